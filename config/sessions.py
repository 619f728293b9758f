"""Sessions in Postgres (Django's database store), with the routine idle-timer save made cheap.

Every request of a signed-in user saves the session (SESSION_SAVE_EVERY_REQUEST), so its
expiry moves to "idle limit from now". With the session's data unchanged that save only
pushes a timestamp forward, yet as its own transaction it waited, like any commit, for the
write-ahead log to reach the disk: 6-15 ms a page on the shared server, as much as the rest
of a fast page. Such a save commits with `synchronous_commit = off`: it is visible at once
to every connection, and Postgres writes it to disk within a fraction of a second
(wal_writer_delay) without the page waiting. Should the database server crash in that
moment, the expiry stays where the previous request put it, so the session ends a little
earlier than it would have: never later.

Anything else is saved as before, waiting for the disk: a session whose data changed
(sign-in, the two-step code, messages kept in the session), a new session, and every
deletion (sign-out). A save inside a transaction the request opened itself is left alone:
the setting would apply to that whole transaction, clinical writes included.
"""

from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import DatabaseError, connections, router, transaction


class SessionStore(DatabaseSessionStore):
    def save(self, must_create=False):
        using = router.db_for_write(self.model)
        connection = connections[using]
        routine = not (must_create or self.modified or self.session_key is None)
        if not routine or connection.in_atomic_block:
            return super().save(must_create=must_create)
        # Django's save, as one UPDATE in a transaction of its own (no savepoint inside).
        session = self.create_model_instance(self._get_session())
        try:
            with transaction.atomic(using=using):
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                session.save(force_update=True, using=using)
        except DatabaseError as error:
            # The row is gone (signed out in another tab, expired and cleared): as Django's.
            raise UpdateError from error
