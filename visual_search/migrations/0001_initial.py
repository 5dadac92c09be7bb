# Edited by hand: the product foreign key and its dependency follow the
# VISUAL_SEARCH_PRODUCT_MODEL setting, like authtoken's AUTH_USER_MODEL.
# HNSW indexes are per encoder (fixed dimension) and are created by
# visual_search.vector_index after migrate, not here.

import django.db.models.deletion
import pgvector.django.vector
from django.conf import settings
from django.db import migrations, models
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.VISUAL_SEARCH_PRODUCT_MODEL),
    ]

    operations = [
        VectorExtension(),
        migrations.CreateModel(
            name="ProductImageEmbedding",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("image_key", models.CharField(max_length=255, verbose_name="image key")),
                ("encoder", models.CharField(max_length=100, verbose_name="encoder")),
                ("encoder_version", models.CharField(max_length=50, verbose_name="encoder version")),
                (
                    "content_hash",
                    models.CharField(blank=True, max_length=64, verbose_name="SHA-256 of the image bytes"),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("pending", "Pending"), ("ready", "Ready"), ("failed", "Failed")],
                        default="pending",
                        max_length=10,
                        verbose_name="status",
                    ),
                ),
                ("error", models.TextField(blank=True, verbose_name="failure reason")),
                ("attempts", models.PositiveIntegerField(default=0, verbose_name="attempts")),
                ("embedding", pgvector.django.vector.VectorField(blank=True, null=True, verbose_name="embedding")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated")),
                ("embedded_at", models.DateTimeField(blank=True, null=True, verbose_name="embedded")),
                (
                    "product",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="visual_embeddings",
                        to=settings.VISUAL_SEARCH_PRODUCT_MODEL,
                        verbose_name="product",
                    ),
                ),
            ],
            options={
                "verbose_name": "product image embedding",
                "verbose_name_plural": "product image embeddings",
                "indexes": [models.Index(fields=["encoder", "status"], name="visual_search_enc_status")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("product", "image_key", "encoder"), name="visual_search_one_row_per_image"
                    )
                ],
            },
        ),
    ]
