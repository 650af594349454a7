-- What an anchor said about its machine when it asked to be paired (the device flow's hostname
-- and platform), kept with the anchor because the grant row that carried them is deleted once
-- it expires. Shown in the settings' anchor list so a user can tell two machines apart.
-- Applied after 0003_passkeys.sql; both columns are NULL for anchors paired before it.
ALTER TABLE anchors ADD COLUMN hostname TEXT;
ALTER TABLE anchors ADD COLUMN platform TEXT;
