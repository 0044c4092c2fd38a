-- The demo business the specialists act on: customers, plans, billing, orders and refunds,
-- payment investigations, service health, bug reports, demo requests and the knowledge base.
--
-- Conventions (as in 001): timestamps are Unix epoch seconds (REAL), money is integer cents
-- with an ISO currency code. Business records use their public text ids ("INV-2001") as
-- primary keys, so tools, logs and humans all speak the same id. Everything except the FTS5
-- table at the end is also valid PostgreSQL.

CREATE TABLE plans (
    code                 TEXT    PRIMARY KEY,       -- starter | pro | business | enterprise
    name                 TEXT    NOT NULL,
    monthly_price_cents  INTEGER,                   -- NULL: custom (sales-negotiated) pricing
    currency             TEXT    NOT NULL DEFAULT 'USD',
    seats_included       INTEGER,                   -- NULL: unlimited / negotiated
    features             TEXT    NOT NULL,          -- one feature per line
    sort_order           INTEGER NOT NULL
);

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    company     TEXT    NOT NULL,
    email       TEXT    NOT NULL UNIQUE,            -- stored lower-case; matched to Slack e-mail
    country     TEXT,
    vat_id      TEXT,
    created_at  REAL    NOT NULL
);

CREATE TABLE subscriptions (
    customer_id         INTEGER PRIMARY KEY REFERENCES customers (id),
    plan_code           TEXT    NOT NULL REFERENCES plans (code),
    status              TEXT    NOT NULL
                        CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    seats               INTEGER NOT NULL DEFAULT 1,
    started_at          REAL    NOT NULL,
    current_period_end  REAL    NOT NULL,           -- next renewal (or trial end)
    trial_ends_at       REAL
);

CREATE TABLE invoices (
    id            TEXT    PRIMARY KEY,              -- INV-2001
    customer_id   INTEGER NOT NULL REFERENCES customers (id),
    description   TEXT    NOT NULL,
    amount_cents  INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency      TEXT    NOT NULL DEFAULT 'USD',
    status        TEXT    NOT NULL CHECK (status IN ('paid', 'open', 'overdue', 'void')),
    issued_at     REAL    NOT NULL,
    due_at        REAL    NOT NULL,
    paid_at       REAL
);
CREATE INDEX invoices_by_customer ON invoices (customer_id, issued_at);

CREATE TABLE payments (
    id               TEXT    PRIMARY KEY,           -- PAY-3001
    invoice_id       TEXT    NOT NULL REFERENCES invoices (id),
    amount_cents     INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency         TEXT    NOT NULL DEFAULT 'USD',
    status           TEXT    NOT NULL
                     CHECK (status IN ('succeeded', 'failed', 'pending', 'refunded')),
    method           TEXT    NOT NULL,              -- "Visa •••• 4242"
    failure_code     TEXT,                          -- insufficient_funds, expired_card, ...
    failure_message  TEXT,
    created_at       REAL    NOT NULL
);
CREATE INDEX payments_by_invoice ON payments (invoice_id, created_at);

CREATE TABLE orders (
    id              TEXT    PRIMARY KEY,            -- ORD-1001
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    description     TEXT    NOT NULL,
    amount_cents    INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency        TEXT    NOT NULL DEFAULT 'USD',
    payment_method  TEXT    NOT NULL,               -- where a refund goes back to
    created_at      REAL    NOT NULL                -- the order date (starts the refund window)
);
CREATE INDEX orders_by_customer ON orders (customer_id, created_at);

CREATE TABLE refunds (
    id            TEXT    PRIMARY KEY,              -- RF-4001
    order_id      TEXT    NOT NULL UNIQUE REFERENCES orders (id),  -- one refund per order
    amount_cents  INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency      TEXT    NOT NULL DEFAULT 'USD',
    reason        TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('processing', 'completed')),
    requested_by  TEXT,                             -- Slack user id, when issued by the desk
    created_at    REAL    NOT NULL
);

CREATE TABLE payment_investigations (
    id           TEXT    PRIMARY KEY,               -- INVQ-5001
    payment_id   TEXT    NOT NULL REFERENCES payments (id),
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    status       TEXT    NOT NULL CHECK (status IN ('open', 'resolved')),
    note         TEXT    NOT NULL,
    created_at   REAL    NOT NULL
);
-- At most one open investigation per payment: asking twice reuses the open one.
CREATE UNIQUE INDEX payment_investigations_one_open
    ON payment_investigations (payment_id) WHERE status = 'open';

CREATE TABLE service_status (
    component   TEXT PRIMARY KEY,                   -- API, Dashboard, Webhooks, ...
    status      TEXT NOT NULL CHECK (status IN ('operational', 'degraded', 'outage')),
    note        TEXT,
    updated_at  REAL NOT NULL
);

CREATE TABLE incidents (
    id           TEXT PRIMARY KEY,                  -- INC-6001
    component    TEXT NOT NULL REFERENCES service_status (component),
    title        TEXT NOT NULL,
    status       TEXT NOT NULL
                 CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    workaround   TEXT,
    started_at   REAL NOT NULL,
    resolved_at  REAL
);
CREATE INDEX incidents_by_component ON incidents (component, started_at);

CREATE TABLE bug_reports (
    id             TEXT    PRIMARY KEY,             -- BUG-7001
    customer_id    INTEGER REFERENCES customers (id),
    slack_user_id  TEXT    NOT NULL,
    title          TEXT    NOT NULL,
    details        TEXT    NOT NULL,
    severity       TEXT    NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    status         TEXT    NOT NULL DEFAULT 'new',
    created_at     REAL    NOT NULL
);

CREATE TABLE demo_requests (
    id             TEXT    PRIMARY KEY,             -- DEMO-8001
    customer_id    INTEGER REFERENCES customers (id),
    slack_user_id  TEXT    NOT NULL,
    name           TEXT,
    email          TEXT,
    company_size   TEXT    NOT NULL,
    notes          TEXT    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'new',
    created_at     REAL    NOT NULL
);

CREATE TABLE kb_articles (
    id          INTEGER PRIMARY KEY,                -- the FTS rowid
    slug        TEXT    NOT NULL UNIQUE,
    title       TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    updated_at  REAL    NOT NULL
);

-- SQLite-only: full-text index over title + body, kept in sync by the triggers below
-- (external content, so the text is stored once). Porter stemming makes "refunds" match
-- "refund". The PostgreSQL equivalent would be a tsvector column with a GIN index.
CREATE VIRTUAL TABLE kb_fts USING fts5 (
    title, body,
    content = 'kb_articles', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER kb_articles_ai AFTER INSERT ON kb_articles BEGIN
    INSERT INTO kb_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;

CREATE TRIGGER kb_articles_ad AFTER DELETE ON kb_articles BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;

CREATE TRIGGER kb_articles_au AFTER UPDATE ON kb_articles BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
    INSERT INTO kb_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
END;
