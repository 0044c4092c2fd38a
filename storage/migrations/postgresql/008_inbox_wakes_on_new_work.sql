-- Workers are woken by rows they may claim: a new row, a row handed back (received again),
-- a finished row (the thread's next message may be claimable now). Not by a claim
-- (received -> running), which only the claiming worker cares about: before, every claim
-- woke every worker into a claim of its own. pg_notify sends one notification per
-- transaction for identical payloads, so a statement changing many rows sends one.
DROP TRIGGER inbox_notify ON inbox;
CREATE TRIGGER inbox_notify_insert AFTER INSERT ON inbox
    FOR EACH STATEMENT EXECUTE FUNCTION inbox_notify();
CREATE TRIGGER inbox_notify_status AFTER UPDATE OF status ON inbox
    FOR EACH ROW WHEN (NEW.status <> 'running' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION inbox_notify();
