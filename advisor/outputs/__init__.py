"""What a run leaves: words and numbers, the terminal table, results.json and the store's row, the HTML/Markdown report, MLflow."""
