"""HTTP only: parse headers, call one use-case, shape the response."""
