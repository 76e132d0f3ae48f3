"""Real-weights transfer benchmark (issue 14): tasks, arms, runner."""
