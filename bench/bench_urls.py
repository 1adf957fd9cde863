"""The product's URLs plus the two baselines the webhook benchmark compares against (loaded only by it)."""

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import handler500
from config.urls import urlpatterns as product_urls

_redis = redis.Redis.from_url(settings.REDIS_URL)


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@csrf_exempt
def floor(request: HttpRequest) -> HttpResponse:
    """The least a durable acknowledgement costs: one INSERT and one LPUSH."""
    body = request.body.decode()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_floor (body) VALUES (%s)", [body])
    _redis.lpush("bench:floor", body[:64])
    return HttpResponse("ok")


urlpatterns = [path("bench/bare", bare), path("bench/floor", floor), *product_urls]
__all__ = ["handler500", "urlpatterns"]
