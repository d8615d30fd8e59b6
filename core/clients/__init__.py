"""The client registry: companies and people, contact persons, search, trash."""
