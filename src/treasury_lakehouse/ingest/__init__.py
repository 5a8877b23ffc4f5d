"""Extract: query building and paging (pure), the HTTP client, and the bronze writer."""
