# The digest's (user, day) row becomes a claim with a state: `sending` while a run holds it,
# `sent` after the server took the message, `failed` for the retry to take again.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('surveillance', '0005_outbox_marks_move_to_patients'),
    ]

    operations = [
        # Rows written before this migration were claimed before their send and cannot be told
        # apart: they count as sent, as they did.
        migrations.AddField(
            model_name='digestsent',
            name='state',
            field=models.CharField(choices=[('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed, to be retried')], default='sent', max_length=7),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='digestsent',
            name='claim_token',
            field=models.UUIDField(null=True),
        ),
        migrations.AddField(
            model_name='digestsent',
            name='claimed_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='digestsent',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AddField(
            model_name='digestsent',
            name='last_error',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name='digestsent',
            name='sent_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(
            "UPDATE surveillance_digestsent SET claimed_at = sent_at",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddConstraint(
            model_name='digestsent',
            constraint=models.CheckConstraint(condition=models.Q(('state', 'sent'), _negated=True) | models.Q(('sent_at__isnull', False)), name='digest_sent_has_sent_at'),
        ),
    ]
