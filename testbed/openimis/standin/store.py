"""SQLite storage for the openIMIS stand-in.

Tables mirror the parts of openIMIS's schema the FHIR API touches:
  locations         ~ tblLocations (R/D/W/V areas, one parent)
  health_facilities ~ tblHF (versioned: an update copies the current row into a
                      history row with validity_to set and legacy_id = current id,
                      exactly like openIMIS's save_history(); the current row keeps
                      its id and uuid)
  legal_forms       ~ tblLegalForms
  users             ~ core User (username matched case-insensitively)

One connection shared by all handler threads, serialised by a lock: simple and
fast enough for a test double (SQLite serialises writers anyway).
"""
import datetime as _dt
import hashlib
import os
import sqlite3
import threading
import uuid as _uuid

AREA_NAMESPACE = _uuid.UUID("6f1c2c4e-6d0b-4a57-9d55-0c1d2b3a4f50")

SCHEMA = """
CREATE TABLE IF NOT EXISTS locations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('R','D','W','V')),
    parent_id INTEGER REFERENCES locations(id),
    validity_from TEXT NOT NULL,
    validity_to TEXT
);
CREATE INDEX IF NOT EXISTS ix_locations_code ON locations(code);
CREATE TABLE IF NOT EXISTS legal_forms (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS health_facilities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    legacy_id INTEGER,                 -- history rows: id of the current row
    uuid TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    legal_form TEXT NOT NULL REFERENCES legal_forms(code),
    level TEXT NOT NULL CHECK (level IN ('C','D','H')),
    sub_level TEXT,
    address TEXT,
    location_id INTEGER NOT NULL REFERENCES locations(id),
    phone TEXT,
    fax TEXT,
    email TEXT,
    care_type TEXT NOT NULL CHECK (care_type IN ('I','O','B')),
    acc_code TEXT,
    offline INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'active',
    validity_from TEXT NOT NULL,
    validity_to TEXT,
    audit_user_id INTEGER
);
CREATE INDEX IF NOT EXISTS ix_hf_cur_uuid ON health_facilities(uuid) WHERE validity_to IS NULL;
CREATE INDEX IF NOT EXISTS ix_hf_cur_code ON health_facilities(code) WHERE validity_to IS NULL;
CREATE INDEX IF NOT EXISTS ix_hf_cur_order ON health_facilities(validity_from, id)
    WHERE validity_to IS NULL;
CREATE INDEX IF NOT EXISTS ix_hf_legacy ON health_facilities(legacy_id);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    salt TEXT NOT NULL
);
"""

LEGAL_FORM_NAMES = {
    "C": "Charity",
    "D": "District Organization",
    "G": "Government",
    "P": "Private organization",
}

# Built-in administrative areas. Two districts share the name "Lakeside" (in
# different regions) so the district+state name fallback can be exercised.
DEFAULT_AREAS = [
    {"code": "R01", "name": "Northern", "type": "R", "parent_code": None},
    {"code": "R02", "name": "Southern", "type": "R", "parent_code": None},
    {"code": "D0101", "name": "Lakeside", "type": "D", "parent_code": "R01"},
    {"code": "D0102", "name": "Hillview", "type": "D", "parent_code": "R01"},
    {"code": "D0201", "name": "Riverbend", "type": "D", "parent_code": "R02"},
    {"code": "D0202", "name": "Lakeside", "type": "D", "parent_code": "R02"},
    {"code": "W010101", "name": "Harbour Ward", "type": "W", "parent_code": "D0101"},
    {"code": "V0101011", "name": "Fisher Village", "type": "V", "parent_code": "W010101"},
]

HF_COLUMNS = ("id", "legacy_id", "uuid", "code", "name", "legal_form", "level", "sub_level",
              "address", "location_id", "phone", "fax", "email", "care_type", "acc_code",
              "offline", "status", "validity_from", "validity_to", "audit_user_id")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def area_uuid(code: str) -> str:
    return str(_uuid.uuid5(AREA_NAMESPACE, "location:" + code))


def _hash_password(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()


class Store:
    def __init__(self, path: str, fast: bool = False):
        self.path = path
        self.lock = threading.RLock()
        # areas by id, read once (a facility list page names every facility's
        # district and its parents); seed_areas, the only writer, clears it
        self._areas_by_id = {}
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=%s" % ("OFF" if fast else "NORMAL"))
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(SCHEMA)

    # ------------------------------------------------------------------ setup
    def close(self):
        with self.lock:
            self.conn.close()

    def seed_legal_forms(self, codes):
        with self.lock:
            self.conn.execute("BEGIN")
            for code in codes:
                self.conn.execute(
                    "INSERT OR IGNORE INTO legal_forms(code, name) VALUES (?, ?)",
                    (code, LEGAL_FORM_NAMES.get(code, "Legal form " + code)))
            self.conn.execute("COMMIT")

    def legal_form_codes(self):
        with self.lock:
            return [r[0] for r in self.conn.execute("SELECT code FROM legal_forms ORDER BY code")]

    def seed_areas(self, areas):
        """areas: list of {code, name, type, parent_code[, uuid]}; parents may come later."""
        with self.lock:
            self._areas_by_id.clear()
            existing = {r["code"] for r in self.conn.execute(
                "SELECT code FROM locations WHERE validity_to IS NULL")}
            pending = [a for a in areas if a["code"] not in existing]
            self.conn.execute("BEGIN")
            try:
                progress = True
                while pending and progress:
                    progress = False
                    rest = []
                    for a in pending:
                        parent_id = None
                        pc = a.get("parent_code")
                        if pc:
                            row = self.conn.execute(
                                "SELECT id FROM locations WHERE code=? AND validity_to IS NULL",
                                (pc,)).fetchone()
                            if row is None:
                                rest.append(a)
                                continue
                            parent_id = row[0]
                        t = a["type"]
                        if t not in ("R", "D", "W", "V"):
                            raise ValueError("area %s: type must be R, D, W or V" % a["code"])
                        if len(a["code"]) > 8 or len(a["name"]) > 50:
                            raise ValueError("area %s: code <= 8 and name <= 50 chars"
                                             % a["code"])
                        self.conn.execute(
                            "INSERT INTO locations(uuid, code, name, type, parent_id,"
                            " validity_from) VALUES (?,?,?,?,?,?)",
                            ((a.get("uuid") or area_uuid(a["code"])).lower(), a["code"],
                             a["name"], t, parent_id, now_iso()))
                        progress = True
                    pending = rest
                if pending:
                    raise ValueError("areas with unknown parent: %s"
                                     % ", ".join(a["code"] for a in pending))
                self.conn.execute("COMMIT")
            except Exception:
                self.conn.execute("ROLLBACK")
                raise

    def add_user(self, username, password):
        salt = os.urandom(8).hex()
        with self.lock:
            self.conn.execute("INSERT INTO users(username, password_hash, salt) VALUES (?,?,?)",
                              (username, _hash_password(password, salt), salt))

    def check_user(self, username, password):
        """openIMIS: User.objects.filter(username__iexact=...), exactly one, check_password."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT id, username, password_hash, salt FROM users"
                " WHERE lower(username)=lower(?)",
                (username,)).fetchall()
        if len(rows) != 1:
            return None
        r = rows[0]
        if _hash_password(password, r["salt"]) == r["password_hash"]:
            return {"id": r["id"], "username": r["username"]}
        return None

    def check_user_exact(self, username, password):
        """GraphQL tokenAuth (Django's authenticate): the user name is
        case-sensitive."""
        with self.lock:
            r = self.conn.execute(
                "SELECT id, username, password_hash, salt FROM users WHERE username=?",
                (username,)).fetchone()
        if r is not None and _hash_password(password, r["salt"]) == r["password_hash"]:
            return {"id": r["id"], "username": r["username"]}
        return None

    # ------------------------------------------------------------------ areas
    def _area(self, row):
        return dict(row) if row is not None else None

    def area_by_id(self, area_id):
        with self.lock:
            if area_id not in self._areas_by_id:
                self._areas_by_id[area_id] = self._area(self.conn.execute(
                    "SELECT * FROM locations WHERE id=?", (area_id,)).fetchone())
            area = self._areas_by_id[area_id]
            return dict(area) if area is not None else None

    def area_by_uuid(self, value):
        with self.lock:
            return self._area(self.conn.execute(
                "SELECT * FROM locations WHERE uuid=lower(?)", (value,)).fetchone())

    def area_by_code(self, code):
        with self.lock:
            return self._area(self.conn.execute(
                "SELECT * FROM locations WHERE code=? AND validity_to IS NULL", (code,)).fetchone())

    def areas_by_district_and_state(self, district, state):
        with self.lock:
            rows = self.conn.execute(
                "SELECT l.* FROM locations l JOIN locations p ON p.id = l.parent_id"
                " WHERE l.validity_to IS NULL AND l.type='D' AND l.name=? AND p.name=?",
                (district, state)).fetchall()
        return [dict(r) for r in rows]

    def count_areas(self, types=None):
        with self.lock:
            return self.conn.execute(
                "SELECT count(*) FROM locations WHERE validity_to IS NULL").fetchone()[0]

    def list_areas(self, offset, limit):
        with self.lock:
            rows = self.conn.execute(
                "SELECT * FROM locations WHERE validity_to IS NULL ORDER BY validity_from, id"
                " LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [dict(r) for r in rows]

    # ------------------------------------------------------- health facilities
    def hf_current_by_uuid(self, value):
        with self.lock:
            r = self.conn.execute(
                "SELECT * FROM health_facilities WHERE uuid=lower(?) AND validity_to IS NULL",
                (value,)).fetchone()
        return dict(r) if r else None

    def hf_current_by_code(self, code):
        with self.lock:
            r = self.conn.execute(
                "SELECT * FROM health_facilities WHERE code=? AND validity_to IS NULL",
                (code,)).fetchone()
        return dict(r) if r else None

    def hf_code_taken(self, code, except_id=None):
        with self.lock:
            r = self.conn.execute(
                "SELECT id FROM health_facilities WHERE code=? AND validity_to IS NULL"
                " AND (? IS NULL OR id <> ?)", (code, except_id, except_id)).fetchone()
        return r is not None

    def count_hf(self):
        with self.lock:
            return self.conn.execute(
                "SELECT count(*) FROM health_facilities WHERE validity_to IS NULL").fetchone()[0]

    def count_hf_history(self):
        with self.lock:
            return self.conn.execute(
                "SELECT count(*) FROM health_facilities WHERE legacy_id IS NOT NULL").fetchone()[0]

    def list_hf_all(self, history=False):
        """Every current row (and the history rows too with `history`), by id."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT * FROM health_facilities%s ORDER BY id"
                % ("" if history else " WHERE validity_to IS NULL")).fetchall()
        return [dict(r) for r in rows]

    def page_hf(self, order_sql, offset, limit):
        """Current rows in `order_sql` (a fixed ORDER BY of the API's)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT * FROM health_facilities WHERE validity_to IS NULL"
                " ORDER BY %s LIMIT ? OFFSET ?" % order_sql, (limit, offset)).fetchall()
        return [dict(r) for r in rows]

    def list_hf(self, offset, limit):
        with self.lock:
            rows = self.conn.execute(
                "SELECT * FROM health_facilities WHERE validity_to IS NULL"
                " ORDER BY validity_from, id LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [dict(r) for r in rows]

    def hf_history(self, hf_id):
        with self.lock:
            rows = self.conn.execute(
                "SELECT * FROM health_facilities WHERE legacy_id=? ORDER BY id",
                (hf_id,)).fetchall()
        return [dict(r) for r in rows]

    def create_hf(self, fields, audit_user_id=None, check_unique=True):
        """Insert a new current row; fields are validated by the caller.
        check_unique=False: no code check inside the transaction (openIMIS's
        GraphQL path checks before, without a constraint)."""
        row = {
            "uuid": str(_uuid.uuid4()),
            "code": fields["code"], "name": fields["name"],
            "legal_form": fields["legal_form"], "level": fields["level"],
            "sub_level": fields.get("sub_level"), "address": fields.get("address"),
            "location_id": fields["location_id"], "phone": fields.get("phone"),
            "fax": fields.get("fax"), "email": fields.get("email"),
            "care_type": fields["care_type"], "acc_code": fields.get("acc_code"),
            "offline": 1 if fields.get("offline") else 0,
            "status": fields.get("status") or "active",
            "validity_from": now_iso(), "audit_user_id": audit_user_id,
        }
        cols = ",".join(row)
        marks = ",".join("?" for _ in row)
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if check_unique and self.hf_code_taken(row["code"]):
                    raise DuplicateCode(row["code"])
                cur = self.conn.execute(
                    "INSERT INTO health_facilities(%s) VALUES (%s)" % (cols, marks),
                    tuple(row.values()))
                self.conn.execute("COMMIT")
            except Exception:
                self.conn.execute("ROLLBACK")
                raise
            return self.hf_by_id(cur.lastrowid)

    def update_hf(self, hf_id, changes, audit_user_id=None, check_unique=True):
        """openIMIS save_history(): copy the current row to a history row
        (legacy_id=current id, validity_to=now), then update the current row."""
        now = now_iso()
        copy_cols = [c for c in HF_COLUMNS if c not in ("id", "legacy_id", "validity_to")]
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if check_unique and "code" in changes and \
                        self.hf_code_taken(changes["code"], except_id=hf_id):
                    raise DuplicateCode(changes["code"])
                self.conn.execute(
                    "INSERT INTO health_facilities(legacy_id, validity_to, %s)"
                    " SELECT id, ?, %s FROM health_facilities WHERE id=?"
                    % (",".join(copy_cols), ",".join(copy_cols)), (now, hf_id))
                sets = dict(changes)
                sets["validity_from"] = now
                sets["audit_user_id"] = audit_user_id
                if "offline" in sets:
                    sets["offline"] = 1 if sets["offline"] else 0
                self.conn.execute(
                    "UPDATE health_facilities SET %s WHERE id=?"
                    % ",".join("%s=?" % k for k in sets), tuple(sets.values()) + (hf_id,))
                self.conn.execute("COMMIT")
            except Exception:
                self.conn.execute("ROLLBACK")
                raise
            return self.hf_by_id(hf_id)

    def hf_by_id(self, hf_id):
        with self.lock:
            r = self.conn.execute("SELECT * FROM health_facilities WHERE id=?", (hf_id,)).fetchone()
        return dict(r) if r else None

    def delete_hf(self, code):
        """openIMIS's deleteHealthFacility (delete_history()): the current
        row gets validity_to=now and leaves every current list; its
        validity_from stays. False when no current row has the code."""
        with self.lock:
            cur = self.conn.execute(
                "UPDATE health_facilities SET validity_to=? WHERE code=? AND validity_to IS NULL",
                (now_iso(), code))
            return cur.rowcount > 0

    def wipe_facilities(self):
        with self.lock:
            self.conn.execute("DELETE FROM health_facilities")

    def facilities_report(self, include_history=False):
        with self.lock:
            rows = self.conn.execute(
                "SELECT h.*, l.code AS district_code, l.name AS district_name,"
                " (SELECT count(*) FROM health_facilities x WHERE x.legacy_id = h.id)"
                " AS history_rows"
                " FROM health_facilities h LEFT JOIN locations l ON l.id = h.location_id"
                " WHERE h.validity_to IS NULL ORDER BY h.id").fetchall()
            out = []
            for r in rows:
                d = {k: r[k] for k in ("code", "uuid", "name", "level", "legal_form", "care_type",
                                       "district_code", "district_name", "address", "phone",
                                       "fax", "email", "status", "validity_from",
                                       "history_rows")}
                d["offline"] = bool(r["offline"])
                if include_history:
                    d["history"] = [
                        {k: h[k] for k in ("code", "name", "level", "legal_form", "care_type",
                                           "address", "phone", "fax", "email",
                                           "validity_from", "validity_to")}
                        for h in self.hf_history(r["id"])]
                out.append(d)
            return out


class DuplicateCode(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code
