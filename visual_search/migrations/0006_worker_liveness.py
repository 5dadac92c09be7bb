"""Worker liveness: who holds a lease (renewed while the work runs), and indexes for the sweep."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('visual_search', '0005_vectors_stored_inline'),
    ]

    operations = [
        migrations.AddField(
            model_name='syncrequest',
            name='claimed_by',
            field=models.CharField(blank=True, db_default='', default='', max_length=100, verbose_name='claimed by'),
        ),
        migrations.AddIndex(
            model_name='syncrequest',
            index=models.Index(condition=models.Q(('claimed_until__isnull', False)), fields=['claimed_until'], name='visual_search_req_leased'),
        ),
        migrations.AddIndex(
            model_name='syncrequest',
            index=models.Index(condition=models.Q(('claimed_until__isnull', False)), fields=['claimed_by'], name='visual_search_req_holder'),
        ),
        migrations.AddIndex(
            model_name='syncrequest',
            index=models.Index(models.OrderBy(models.F('job'), nulls_first=True), models.F('requested_at'), condition=models.Q(('claimed_until__isnull', True)), name='visual_search_req_next'),
        ),
    ]
