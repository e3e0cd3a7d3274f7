"""The analyst's toolbox: classic location models on plain arrays or generic tables, solved with
this project's strongest method for each, and checked independently."""
