"""The profile: YAML with line numbers, value kinds, validation into typed settings."""
