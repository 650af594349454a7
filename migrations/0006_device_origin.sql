-- Device approval that a phisher cannot dress up (RFC 8628 §5.4; docs/auth.md, Device flow).
-- Applied after 0005_step_up.sql.
--
-- Where a pairing request came from, recorded when the code is asked for, from what the
-- requester cannot choose: Cloudflare's view of the connection (request.cf: country, city, AS
-- organisation and number) and the client address bucket Orbit rate-limits by. NULL where the
-- platform did not say. Shown on the approval page beside what the anchor says about itself.
ALTER TABLE device_grants ADD COLUMN origin_country TEXT;
ALTER TABLE device_grants ADD COLUMN origin_city TEXT;
ALTER TABLE device_grants ADD COLUMN origin_network TEXT;
ALTER TABLE device_grants ADD COLUMN origin_asn INTEGER;
ALTER TABLE device_grants ADD COLUMN origin_address TEXT;

-- The SHA-256 of the grant's link token: verification_uri_complete names the grant by it
-- (?link=) instead of by its user code, so a page opened from a link never learns the code's
-- first characters and approval needs the user to type them. NULL for grants made before.
ALTER TABLE device_grants ADD COLUMN link_hash TEXT;
CREATE UNIQUE INDEX device_grants_link_hash ON device_grants(link_hash);
