"""Storage: SQLAlchemy models, engine set-up, tenant scoping and Alembic migrations."""
