"""Constants shared by data tests (imported by module name; pytest puts this folder on sys.path)."""

ML1M_MOVIES_TEXT = "10::Heat (1995)::Action|Crime|Thriller\n"
