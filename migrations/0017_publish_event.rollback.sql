DROP FUNCTION publish_event(text, jsonb);
