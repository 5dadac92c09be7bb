# Edited by hand: the product foreign key follows VISUAL_SEARCH_PRODUCT_MODEL (see 0001).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.VISUAL_SEARCH_PRODUCT_MODEL),
        ('visual_search', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='BulkJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('mode', models.CharField(choices=[('missing', 'Missing: never embedded or pending'), ('stale', 'Stale: from an older encoder version'), ('failed', 'Failed: retry images that failed'), ('all', 'All: every searchable product, unchanged images skipped'), ('force', 'Force: re-embed every image')], max_length=10, verbose_name='mode')),
                ('encoder', models.CharField(max_length=100, verbose_name='encoder')),
                ('state', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('paused', 'Paused'), ('cancelled', 'Cancelled'), ('finished', 'Finished')], db_index=True, default='queued', max_length=10, verbose_name='state')),
                ('total', models.PositiveIntegerField(default=0, verbose_name='products')),
                ('done', models.PositiveIntegerField(default=0, verbose_name='done')),
                ('failed', models.PositiveIntegerField(default=0, verbose_name='failed')),
                ('message', models.TextField(blank=True, verbose_name='message')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('started_at', models.DateTimeField(blank=True, null=True, verbose_name='started')),
                ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='started by')),
            ],
            options={
                'verbose_name': 'bulk re-embed job',
                'verbose_name_plural': 'bulk re-embed jobs',
                'ordering': ['-created_at'],
                'permissions': [('run_bulkjob', 'Can start, pause, resume and cancel bulk re-embeds')],
            },
        ),
        migrations.CreateModel(
            name='SyncRequest',
            fields=[
                ('product', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='visual_sync_request', serialize=False, to=settings.VISUAL_SEARCH_PRODUCT_MODEL, verbose_name='product')),
                ('requested_at', models.DateTimeField(db_index=True, verbose_name='requested')),
                ('force', models.BooleanField(default=False, verbose_name='re-embed unchanged images')),
                ('attempts', models.PositiveIntegerField(default=0, verbose_name='attempts')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
                ('not_before', models.DateTimeField(blank=True, null=True, verbose_name='not before')),
                ('claimed_until', models.DateTimeField(blank=True, null=True, verbose_name='claimed until')),
                ('job', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='requests', to='visual_search.bulkjob', verbose_name='bulk job')),
            ],
            options={
                'verbose_name': 'sync request',
                'verbose_name_plural': 'sync requests',
                'indexes': [models.Index(fields=['job', 'claimed_until'], name='visual_search_req_job')],
            },
        ),
    ]
