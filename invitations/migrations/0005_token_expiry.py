from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def existing_tokens_expire_one_lifetime_from_now(apps, schema_editor):
    """Tokens made before expiry existed get one lifetime from the migration,
    so that scripts in use keep working until then."""
    lifetime = getattr(settings, "API_TOKEN_LIFETIME_SECONDS", 0)
    if lifetime:
        ApiToken = apps.get_model("invitations", "ApiToken")
        ApiToken.objects.filter(expires_at=None).update(expires_at=timezone.now() + timedelta(seconds=lifetime))


class Migration(migrations.Migration):

    dependencies = [
        ("invitations", "0004_push_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterModelOptions(
            name="apitoken",
            options={"permissions": [("revoke_apitoken", "Can revoke API tokens")]},
        ),
        migrations.RunPython(existing_tokens_expire_one_lifetime_from_now, migrations.RunPython.noop),
    ]
