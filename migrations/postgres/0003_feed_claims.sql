-- Which worker is fetching a feed right now (several workers, one store).
ALTER TABLE feeds ADD COLUMN claim_holder TEXT;
ALTER TABLE feeds ADD COLUMN claim_until TIMESTAMPTZ;
