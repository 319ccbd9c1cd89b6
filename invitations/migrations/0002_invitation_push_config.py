from django.db import migrations, models
from django.db.models import F, OuterRef, Subquery


def copy_callers_push_config(apps, schema_editor):
    """Invitations made by the caller (callInvite) carried the call's pushConfig;
    keep that for the ones already in the table."""
    Call = apps.get_model("invitations", "Call")
    CallUser = apps.get_model("invitations", "CallUser")
    CallUser.objects.filter(inviter_id=F("call__caller_id")).exclude(call__push_config=None).update(
        invitation_push_config=Subquery(Call.objects.filter(pk=OuterRef("call_id")).values("push_config")[:1]))


class Migration(migrations.Migration):

    dependencies = [
        ("invitations", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="calluser",
            name="invitation_push_config",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(copy_callers_push_config, migrations.RunPython.noop),
    ]
