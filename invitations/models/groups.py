"""Groups (PROTOCOL additions, "Groups"): a set of users that can be called together."""

from django.conf import settings
from django.db import models

USER = settings.AUTH_USER_MODEL


# --- groups (PROTOCOL additions: "Groups") ---------------------------------------------------


class Group(models.Model):
    """Tencent's group: a set of users that can be called, and whose calls its members may join."""

    group_id = models.SlugField("groupID", max_length=64)
    # The tenant (accounts/tenancy.py): an app's group, or the site's own (null); groupIDs are per tenant.
    app = models.ForeignKey("invitations.App", on_delete=models.CASCADE, null=True, blank=True, related_name="groups")
    name = models.CharField(max_length=150)
    members = models.ManyToManyField(USER, related_name="call_groups", blank=True)

    class Meta:
        verbose_name = "call group"  # auth's Group is "group" in the same admin
        ordering = ["group_id"]
        constraints = [
            models.UniqueConstraint(fields=["group_id", "app"], name="group_id_per_tenant", nulls_distinct=False)
        ]

    def __str__(self) -> str:
        return self.group_id
