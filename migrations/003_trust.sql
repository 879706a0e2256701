-- Who vouched for a host's identity: 0 nobody (unsigned), 1 the shared secret, 2 the VM's own key
-- (or its cloud-init token). A host a VM's own key identified takes only that key from then on.
ALTER TABLE hosts ADD COLUMN identified_by INTEGER NOT NULL DEFAULT 0;
