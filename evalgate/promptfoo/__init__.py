"""promptfoo configs carried over to evalgate: the importer and the mapping of assertions."""
