"""The parts of the page: each draws one thing and calls the core; no logic of its own."""
