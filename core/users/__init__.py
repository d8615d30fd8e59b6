"""Users, teams, roles, permissions and API tokens."""
