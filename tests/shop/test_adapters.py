from __future__ import annotations

from django.core.files.base import ContentFile

from shop.adapters import ShopProductAdapter
from shop.models import Product, ProductImage
from tests.shop.factories import jpeg_bytes


def add_gallery_image(product: Product, position: int) -> ProductImage:
    image = ProductImage(product=product, position=position)
    image.image.save(f"{product.slug}-{position}.jpg", ContentFile(jpeg_bytes()), save=False)
    image.save()
    return image


def test_get_images_returns_main_then_gallery(make_product):
    product = make_product()
    second = add_gallery_image(product, position=2)
    first = add_gallery_image(product, position=1)

    refs = ShopProductAdapter().get_images(product)

    assert [ref.key for ref in refs] == ["main", f"gallery:{first.pk}", f"gallery:{second.pk}"]
    assert refs[0].read() == product.image.open("rb").read()


def test_get_images_without_main_image(make_product):
    product = make_product(image=False)
    extra = add_gallery_image(product, position=0)

    assert [ref.key for ref in ShopProductAdapter().get_images(product)] == [f"gallery:{extra.pk}"]
    assert ShopProductAdapter().get_images(make_product("Blue dress", image=False)) == []


def test_get_product_pk_and_queryset(make_product):
    product = make_product()
    image = add_gallery_image(product, position=0)
    adapter = ShopProductAdapter()

    assert adapter.get_product_pk(image) == product.pk
    assert adapter.get_image_models() == [ProductImage]
    assert list(adapter.get_queryset()) == [product]
