import asyncio
import os

from django.core.management.base import BaseCommand, CommandError

from accounts.roles import Role
from imports.mllp import Listener, listener_account


class Command(BaseCommand):
    help = (
        "Receive HL7 v2 ORU^R01 messages over MLLP and answer each with an HL7 ACK (AA imported "
        "or duplicate, AE unmatched or invalid content, AR unreadable). Runs until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("HL7_PORT", "2575")),
            help="TCP port (default: HL7_PORT, else 2575)",
        )
        parser.add_argument(
            "--host",
            default="0.0.0.0",  # noqa: S104 - a listener laboratories connect to
            help="address to listen on (default: all)",
        )
        parser.add_argument(
            "--account",
            default="hl7-listener",
            help=(
                "the interface account the messages are recorded as (default hl7-listener, "
                "created with the interface role if missing)"
            ),
        )
        parser.add_argument("--threads", type=int, default=4, help="database worker threads")

    def handle(self, *args, port, host, account, threads, **options):
        actor = listener_account(account)
        if actor.role != Role.INTERFACE or not actor.is_active:
            raise CommandError(
                f"{account} is not an active interface account; give --account the name of one "
                f"(python manage.py createuser NAME --role interface)."
            )
        listener = Listener(account=account, threads=threads)

        def ready(server):
            where = ", ".join(str(s.getsockname()[:2]) for s in server.sockets)
            self.stdout.write(f"HL7 MLLP listener on {where}, recording as {account}", ending="\n")
            self.stdout.flush()

        try:
            asyncio.run(listener.serve(host, port, ready=ready))
        except KeyboardInterrupt:
            self.stdout.write("stopped")
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from None
