"""The projects tree (clients, projects, documents) as the API shows it."""
