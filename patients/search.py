"""Name/MRN search of the patient list and the patients API, on an index either way.

With the trigram index of migration 0011 (Postgres with pg_trgm) a word matches any part
of the MRN, given name or family name, case-insensitively. Without it (the embedded
Postgres has no pg_trgm) it matches their beginning, on the UPPER(column) btree indexes: a
substring search there would read every patient.
"""

from django.db import connection
from django.db.models import BooleanField, CharField, Expression, F, Q, Value
from django.db.models.functions import Concat

TRIGRAM_INDEXES = ("patient_words_trgm_idx",)
_trigram_by_database: dict[str, bool] = {}


def substring_search() -> bool:
    """Whether this database has the trigram indexes (checked once per database)."""
    name = connection.settings_dict["NAME"]
    if name not in _trigram_by_database:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexname = ANY(%s)",
                [list(TRIGRAM_INDEXES)],
            )
            _trigram_by_database[name] = cursor.fetchone()[0] == len(TRIGRAM_INDEXES)
    return _trigram_by_database[name]


def forget() -> None:
    """Check the indexes again on next use (after a migration, in tests)."""
    _trigram_by_database.clear()


class Words(Expression):
    """Whether a patient's MRN, given name or family name contains `word`, case-insensitively:
    `UPPER(mrn || ' ' || given_name || ' ' || family_name) LIKE UPPER('%word%')`, the
    expression of the trigram index (migration patients 0011). A word has no space in it, so
    it matches the joined text exactly where it matches one of the three."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, word: str, prefix: str = ""):
        super().__init__()
        self.word = word
        self.columns = [F(f"{prefix}{column}") for column in ("mrn", "given_name", "family_name")]

    def get_source_expressions(self):
        return self.columns

    def set_source_expressions(self, exprs):
        self.columns = list(exprs)

    def as_sql(self, compiler, connection):
        pieces, params = [], []
        for column in self.columns:
            sql, column_params = compiler.compile(column)
            pieces.append(f"({sql})::text")
            params.extend(column_params)
        joined = " || ' ' || ".join(pieces)
        pattern = f"%{connection.ops.prep_for_like_query(self.word)}%"
        return f"UPPER({joined}) LIKE UPPER(%s)", [*params, pattern]


def matches(text: str, prefix: str = "") -> Q:
    """Patients whose MRN, given name or family name contains (or, without the trigram
    index, starts with) every word of `text`. `prefix` is the lookup path to the patient
    (e.g. "patient__")."""
    substring = substring_search()
    condition = Q()
    for word in text.split():
        if substring:
            condition &= Q(Words(word, prefix))
        else:
            condition &= (
                Q(**{f"{prefix}mrn__istartswith": word})
                | Q(**{f"{prefix}given_name__istartswith": word})
                | Q(**{f"{prefix}family_name__istartswith": word})
            )
    return condition


# A searched list in the patient list's order (family name, given name, id), written so that
# no index holds it. Otherwise Postgres, taking the matches to be spread evenly, walks the
# name-order index until it has a page and filters each entry: for a name deep in the
# alphabet that read 70,000 entries (140 ms) where the trigram or prefix indexes find the
# 2,000 matches and sort them in a few milliseconds. Concatenating '' changes no value and
# no order; it only hides the column from the index.
ORDER = (
    Concat(F("family_name"), Value(""), output_field=CharField()).asc(),
    F("given_name").asc(),
    F("id").asc(),
)
