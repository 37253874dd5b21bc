-- The model a request asked for (a virtual model's name, or the selector as sent) beside `model`,
-- the one the provider reported answering with. Null on rows from before it was recorded and on
-- passthrough rows without a model.

alter table usage add column requested_model text;
