"""Who may do what: authentication (none, static tokens, JWT), SMART-style scopes, the
audit trail, rate limits. See README, "Security"."""
