"""Report and figure builders."""
