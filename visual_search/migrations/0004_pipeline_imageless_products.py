# Edited by hand: the product foreign key follows VISUAL_SEARCH_PRODUCT_MODEL (see 0001).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.VISUAL_SEARCH_PRODUCT_MODEL),
        ('visual_search', '0003_stored_encoders'),
    ]

    operations = [
        migrations.CreateModel(
            name='ImagelessProduct',
            fields=[
                ('product', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='visual_imageless', serialize=False, to=settings.VISUAL_SEARCH_PRODUCT_MODEL, verbose_name='product')),
                ('checked_at', models.DateTimeField(auto_now=True, verbose_name='checked')),
            ],
            options={
                'verbose_name': 'product without images',
                'verbose_name_plural': 'products without images',
            },
        ),
    ]
