"""Issue, list and revoke the API keys third parties send as ``Authorization: Api-Key <key>``."""

from __future__ import annotations

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


def _parse_expiry(value: str) -> datetime:
    """An ISO 8601 date (midnight, server time zone) or date and time."""
    try:
        moment = parse_datetime(value) or (parse_date(value) and datetime.combine(parse_date(value), time.min))
    except ValueError:
        moment = None
    if not moment:
        raise CommandError(f"Not an ISO 8601 date: {value!r}")
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = "Create (prints the key once), list or revoke visual_search API keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a key and print it; only a hash is stored.")
        create.add_argument("name", help="Who the key is for, e.g. partner-app. Also names its throttle rates.")
        create.add_argument("--expires", help="Expiry date and time, ISO 8601 (e.g. 2027-01-31).")
        sub.add_parser("list", help="List keys: prefix, name, created, state.")
        revoke = sub.add_parser("revoke", help="Revoke a key by its prefix (the part before the dot) or name.")
        revoke.add_argument("key", help="The key's prefix or name.")

    def handle(self, *args, action: str, **options):
        from rest_framework_api_key.models import APIKey  # noqa: PLC0415 - needs the app installed

        if action == "create":
            expiry = _parse_expiry(options["expires"]) if options.get("expires") else None
            _, key = APIKey.objects.create_key(name=options["name"], expiry_date=expiry)
            self.stderr.write(f"Created API key {options['name']!r}. It is shown once; store it now:")
            self.stdout.write(key)
        elif action == "list":
            for api_key in APIKey.objects.order_by("created"):
                state = "revoked" if api_key.revoked else ("expired" if api_key.has_expired else "active")
                self.stdout.write(f"{api_key.prefix}\t{api_key.name}\t{api_key.created:%Y-%m-%d %H:%M}\t{state}")
        elif action == "revoke":
            keys = APIKey.objects.filter(prefix=options["key"]) or APIKey.objects.filter(name=options["key"])
            if not keys:
                raise CommandError(f"No API key with prefix or name {options['key']!r}.")
            if len(keys) > 1:
                raise CommandError(f"{len(keys)} keys are named {options['key']!r}; revoke one by its prefix.")
            api_key = keys[0]
            api_key.revoked = True
            api_key.save(update_fields=["revoked"])
            self.stdout.write(f"Revoked {api_key.prefix} ({api_key.name}).")
