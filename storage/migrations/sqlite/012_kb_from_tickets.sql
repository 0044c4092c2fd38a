-- Knowledge that grows from solved tickets: an article a staff member published from a
-- resolved ticket keeps where it came from and who published it.
ALTER TABLE kb_articles ADD COLUMN origin_ticket_id INTEGER REFERENCES tickets (id);
ALTER TABLE kb_articles ADD COLUMN author TEXT;
