"""serkit inside other tools' pipelines (spaCy); each module imports its tool lazily."""
