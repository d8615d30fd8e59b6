"""A test plugin whose migration fails."""


class BadMigration:
    name = "bad_migration"
    title = "Bad migration"
    version = "0.1.0"
    requires = ()


plugin = BadMigration()
