-- What anonymous callers read (the catalog, its counters and embeddings, the leaderboards) tells
-- every API process when it changes, so their response caches (app/response_cache.py) drop what
-- they hold. A statement-level trigger per table; PostgreSQL folds identical notifications of one
-- transaction into one and delivers it at commit, so a reader that hears it sees the change.
CREATE FUNCTION notify_public_data_changed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('public_data_changed', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER patterns_public_data_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON patterns
    FOR EACH STATEMENT EXECUTE FUNCTION notify_public_data_changed();
CREATE TRIGGER pattern_stats_public_data_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pattern_stats
    FOR EACH STATEMENT EXECUTE FUNCTION notify_public_data_changed();
CREATE TRIGGER pattern_embeddings_public_data_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pattern_embeddings
    FOR EACH STATEMENT EXECUTE FUNCTION notify_public_data_changed();
CREATE TRIGGER learners_public_data_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON learners
    FOR EACH STATEMENT EXECUTE FUNCTION notify_public_data_changed();
CREATE TRIGGER learner_activity_daily_public_data_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON learner_activity_daily
    FOR EACH STATEMENT EXECUTE FUNCTION notify_public_data_changed();
