"""Programs the tests start in a fresh process (a strategy, a loader or phases that need one)."""
