"""Keep vectors in the table row (STORAGE MAIN) rather than in TOAST.

A 1,280-d vector is 5 KB, over PostgreSQL's 2 KB TOAST threshold, so by default
each one lives in the TOAST table and every distance computed on it first
fetches and reassembles its chunks: measured at 7 microseconds a row, more than
the half-precision distance itself (docs/benchmarks.md). MAIN keeps a vector in
its row whenever the row fits a page, and moves it out only when it must
(beyond about 2,000 dimensions). Vectors written before this migration move
when they are next written (``visual_search_reembed --mode force`` rewrites all).
"""

from django.db import migrations


def set_storage(storage: str):
    def run(apps, schema_editor):
        table = schema_editor.quote_name(apps.get_model("visual_search", "ProductImageEmbedding")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN embedding SET STORAGE {storage}")

    return run


class Migration(migrations.Migration):

    dependencies = [
        ("visual_search", "0004_pipeline_imageless_products"),
    ]

    operations = [
        migrations.RunPython(set_storage("MAIN"), set_storage("EXTENDED"), elidable=False),
    ]
