-- Delivery looks up the coupon of each message it claims (a retried message keeps its code): by the
-- outbox row, which had no index, so each look-up read every coupon ever issued.
CREATE INDEX coupons_outbox ON coupons (outbox_id) WHERE outbox_id IS NOT NULL;
