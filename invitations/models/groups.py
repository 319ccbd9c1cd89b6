"""Groups (PROTOCOL additions, "Groups"): a set of users that can be called together."""

from django.conf import settings
from django.db import models

GROUP_ID_MAX_LENGTH = 64
NAME_MAX_LENGTH = 150


# --- groups (PROTOCOL additions: "Groups") ---------------------------------------------------


class Group(models.Model):
    """Tencent's group: a set of users that can be called, and whose calls its members may join."""

    group_id = models.SlugField("groupID", max_length=GROUP_ID_MAX_LENGTH, unique=True)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="call_groups", blank=True)

    class Meta:
        verbose_name = "call group"  # auth's Group is "group" in the same admin
        ordering = ["group_id"]

    def __str__(self) -> str:
        return self.group_id
