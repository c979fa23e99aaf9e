"""Write a seeded synthetic dataset in the ML-25M layout (``ratings.csv``, ``movies.csv``).

    python bench/synthetic.py --scale 25 --out bench/out/synthetic-25m      # ~25M ratings, ML-25M's shape
    python bench/synthetic.py --scale 1 --out bench/out/synthetic-1m        # ~1M ratings, ML-1M's shape

``--scale`` is millions of ratings (at least 1). The shape follows MovieLens 25M
(162,541 users, 59,047 rated movies, 25,000,095 ratings, at least 20 ratings a user):

* users grow linearly with the ratings (6.5k users a million); items grow as
  scale^0.75 (5.6k at 1M, 18.7k at 5M, 62k at 25M), as MovieLens's releases do
  (ML-1M 3.7k, ML-10M 10.7k, ML-25M 59k rated);
* user activity is log-normal above a floor of 20 ratings (median near 70, a tail of
  thousands); item popularity is a Zipf law (exponent 1.5, offset 100: the top movie
  holds about 0.5% of ratings, the rarest a handful) over a shuffled catalog;
* each movie has 1-3 genres from a co-occurrence table (Action with Adventure or
  Thriller, Comedy with Romance...), and each user a taste over two or three genres:
  most of a user's ratings fall in their genres, so collaborative models have
  something to learn beyond popularity;
* timestamps run from 1996 to 2019; a user rates in bursts over a span of days to
  years, never a movie before its release year;
* ratings are half stars around each movie's quality and the user's leniency.

The same ``--seed`` and ``--scale`` give the same files. The real ML-25M or
ml-latest, where present, read the same way (the ``ml-latest`` layout).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

ML25M_USERS = 162_541
ML25M_ITEMS = 62_423
ML25M_RATINGS = 25_000_095
MIN_RATINGS_PER_USER = 20

GENRES = (
    "Drama", "Comedy", "Thriller", "Romance", "Action", "Horror", "Documentary", "Crime",
    "Adventure", "Sci-Fi", "Children", "Animation", "Mystery", "Fantasy", "War", "Western",
    "Musical", "Film-Noir", "IMAX",
)  # fmt: skip
# How often each genre is a movie's first genre in ML-25M, roughly (Drama 25k of 62k movies...).
GENRE_WEIGHTS = np.array([25, 16, 8, 7, 7, 5, 5, 5, 4, 4, 3, 3, 3, 3, 2, 1, 1, 0.3, 0.2])
# Genres that come together: a movie's second and third genres are drawn from its first's row.
COMPANIONS = {
    "Drama": ("Romance", "Crime", "War", "Thriller", "Comedy"),
    "Comedy": ("Romance", "Drama", "Children", "Musical", "Crime"),
    "Thriller": ("Crime", "Mystery", "Action", "Horror", "Drama"),
    "Romance": ("Drama", "Comedy", "Musical"),
    "Action": ("Adventure", "Thriller", "Sci-Fi", "Crime", "War"),
    "Horror": ("Thriller", "Mystery", "Sci-Fi", "Comedy"),
    "Documentary": ("War", "Musical", "IMAX"),
    "Crime": ("Drama", "Thriller", "Film-Noir", "Mystery"),
    "Adventure": ("Action", "Fantasy", "Children", "Sci-Fi", "Western"),
    "Sci-Fi": ("Action", "Adventure", "Thriller", "IMAX"),
    "Children": ("Animation", "Comedy", "Fantasy", "Adventure"),
    "Animation": ("Children", "Comedy", "Fantasy", "Adventure"),
    "Mystery": ("Thriller", "Crime", "Horror", "Film-Noir"),
    "Fantasy": ("Adventure", "Children", "Animation", "Romance"),
    "War": ("Drama", "Action", "Documentary"),
    "Western": ("Action", "Adventure", "Drama"),
    "Musical": ("Comedy", "Romance", "Animation"),
    "Film-Noir": ("Crime", "Mystery", "Thriller"),
    "IMAX": ("Sci-Fi", "Action", "Adventure", "Documentary"),
}
ADJECTIVES = (
    "Silent", "Last", "Broken", "Golden", "Hidden", "Lost", "Crimson", "Midnight", "Wild", "Frozen",
    "Burning", "Distant", "Secret", "Final", "Hollow", "Bright", "Dark", "Endless", "Quiet", "Savage",
)  # fmt: skip
NOUNS = (
    "River", "City", "Kingdom", "Summer", "Garden", "Road", "Empire", "Harbor", "Storm", "Mirror",
    "Frontier", "Promise", "Station", "Island", "Witness", "Orchard", "Signal", "Valley", "Heart", "Engine",
)  # fmt: skip
FIRST_YEAR, LAST_YEAR = 1996, 2019
SECONDS_PER_YEAR = 365.25 * 24 * 3600
EPOCH_1996 = 820_454_400  # 1996-01-01 UTC


def shape_for(scale: float) -> tuple[int, int, int]:
    """(users, items, ratings) for ``scale`` million ratings, following ML-25M's shape."""
    ratings = round(scale * 1_000_000)
    users = max(1, round(ML25M_USERS * ratings / ML25M_RATINGS))
    items = max(50, round(ML25M_ITEMS * (ratings / ML25M_RATINGS) ** 0.75))
    return users, items, ratings


def user_activity(n_users: int, n_ratings: int, n_items: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Ratings per user: a log-normal tail above the floor, summing to ``n_ratings``."""
    tail = rng.lognormal(mean=0.0, sigma=1.35, size=n_users)
    spare = n_ratings - MIN_RATINGS_PER_USER * n_users
    counts = MIN_RATINGS_PER_USER + np.floor(tail / tail.sum() * max(spare, 0)).astype(np.int64)
    counts = np.minimum(counts, n_items // 2)  # nobody rates half the catalog
    shortfall = n_ratings - int(counts.sum())
    if shortfall > 0:  # spread what the cap and the rounding removed over users with room
        room = np.flatnonzero(counts < n_items // 2)
        extra = np.bincount(rng.choice(room, size=shortfall), minlength=n_users)
        counts = np.minimum(counts + extra, n_items // 2)
    return counts


def item_genres(n_items: int, rng: np.random.Generator) -> tuple[npt.NDArray[np.int64], list[list[str]]]:
    """Each movie's first genre (an index) and its full list of 1-3 genres."""
    first = rng.choice(len(GENRES), size=n_items, p=GENRE_WEIGHTS / GENRE_WEIGHTS.sum())
    extra_count = rng.choice(3, size=n_items, p=[0.45, 0.38, 0.17])
    genres = []
    for primary, extra in zip(first, extra_count, strict=True):
        name = GENRES[primary]
        companions = rng.permutation(COMPANIONS[name])[:extra]
        genres.append([name, *companions])
    return first.astype(np.int64), genres


def sample_items(
    counts: npt.NDArray[np.int64],
    tastes: npt.NDArray[np.int64],
    first_genre: npt.NDArray[np.int64],
    popularity: npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(user, item) draws, ``counts[u]`` for user u: 70% from their (up to three) ``tastes``, the rest from all."""
    n_users = len(counts)
    users = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    in_taste = rng.random(len(users)) < 0.7
    genre = tastes[users, rng.integers(0, 3, size=len(users))]
    items = np.empty(len(users), dtype=np.int64)
    overall = np.cumsum(popularity) / popularity.sum()
    everyone = ~in_taste
    items[everyone] = np.searchsorted(overall, rng.random(int(everyone.sum())))
    for g in range(len(GENRES)):
        members = np.flatnonzero(first_genre == g)
        rows = np.flatnonzero(in_taste & (genre == g))
        if len(members) == 0:
            items[rows] = np.searchsorted(overall, rng.random(len(rows)))
            continue
        within = np.cumsum(popularity[members]) / popularity[members].sum()
        items[rows] = members[np.minimum(np.searchsorted(within, rng.random(len(rows))), len(members) - 1)]
    return users, np.minimum(items, len(popularity) - 1)


def unique_pairs(
    users: npt.NDArray[np.int64], items: npt.NDArray[np.int64], n_items: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Drop repeated (user, item) draws: MovieLens holds one rating per user and movie."""
    keys = np.unique(users * n_items + items)
    return keys // n_items, keys % n_items


def generate(scale: float, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """The ratings and movies tables for ``scale`` million ratings (``scale`` >= 1 on the command line)."""
    rng = np.random.default_rng(seed)
    n_users, n_items, n_ratings = shape_for(scale)
    first_genre, genres = item_genres(n_items, rng)
    # Zipf popularity over a shuffled catalog, so popularity and id are unrelated, as in MovieLens
    popularity = 1.0 / (rng.permutation(n_items) + 100.0) ** 1.5
    counts = user_activity(n_users, n_ratings, n_items, rng)
    tastes = np.stack(
        [rng.choice(len(GENRES), size=n_users, p=GENRE_WEIGHTS / GENRE_WEIGHTS.sum()) for _ in range(3)], 1
    )
    # repeated draws are dropped, so draw more than needed, top up users left short, and cut each back to their count
    users, items = unique_pairs(*sample_items(counts + counts // 4 + 2, tastes, first_genre, popularity, rng), n_items)
    for _ in range(8):
        short = np.maximum(counts - np.bincount(users, minlength=n_users), 0)
        if short.sum() <= n_ratings // 1000:
            break
        more_users, more_items = sample_items(short * 2 + (short > 0), tastes, first_genre, popularity, rng)
        users, items = unique_pairs(np.concatenate([users, more_users]), np.concatenate([items, more_items]), n_items)
    keep = _first_per_user(users, counts, rng)
    users, items = users[keep], items[keep]

    release = (LAST_YEAR - np.floor(rng.exponential(12.0, size=n_items))).clip(1902, LAST_YEAR).astype(np.int64)
    ts = _timestamps(users, items, release, n_users, rng)
    quality = rng.normal(3.5, 0.45, size=n_items)
    leniency = rng.normal(0.0, 0.45, size=n_users)
    stars = quality[items] + leniency[users] + rng.normal(0.0, 0.8, size=len(items))
    rating = np.clip(np.round(stars * 2) / 2, 0.5, 5.0)

    movie_ids = np.cumsum(rng.integers(1, 4, size=n_items))  # gaps between ids, as MovieLens has
    user_ids = np.arange(1, n_users + 1)
    order = np.lexsort((ts, users))
    ratings = pa.table(
        {
            "userId": user_ids[users[order]],
            "movieId": movie_ids[items[order]],
            "rating": rating[order],
            "timestamp": ts[order],
        }
    )
    titles = [_title(i, rng) + f" ({year})" for i, year in enumerate(release)]
    movies = pa.table({"movieId": movie_ids, "title": titles, "genres": ["|".join(g) for g in genres]})
    return ratings, movies


def _first_per_user(
    users: npt.NDArray[np.int64], counts: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """A random ``counts[u]`` of each user's distinct draws (fewer if the user drew fewer)."""
    order = np.lexsort((rng.random(len(users)), users))
    sorted_users = users[order]
    starts = np.searchsorted(sorted_users, np.arange(len(counts)))
    position = np.arange(len(users)) - starts[sorted_users]
    return np.sort(order[position < counts[sorted_users]])


def _timestamps(
    users: npt.NDArray[np.int64],
    items: npt.NDArray[np.int64],
    release: npt.NDArray[np.int64],
    n_users: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """Each user joins some day from 1996 on and rates over a span of days to years, in bursts."""
    years = LAST_YEAR - FIRST_YEAR + 1
    joined = rng.random(n_users) * (years - 0.5) * SECONDS_PER_YEAR
    span = np.minimum(rng.exponential(0.6, size=n_users) * SECONDS_PER_YEAR, years * SECONDS_PER_YEAR - joined)
    offsets = joined[users] + span[users] * rng.beta(0.4, 0.4, size=len(users)) ** 2
    released = (release[items] - FIRST_YEAR) * SECONDS_PER_YEAR
    # a movie is rated in or after its release year; the clock never runs past the end of 2019
    seconds = np.clip(
        np.maximum(offsets, released + rng.random(len(users)) * SECONDS_PER_YEAR), 0, years * SECONDS_PER_YEAR - 1
    )
    return EPOCH_1996 + seconds.astype(np.int64)


def _title(index: int, rng: np.random.Generator) -> str:
    adjective, noun = ADJECTIVES[rng.integers(len(ADJECTIVES))], NOUNS[rng.integers(len(NOUNS))]
    form = index % 4
    if form == 0:
        return f"The {adjective} {noun}"
    if form == 1:
        return f"{adjective} {noun} {index % 7 + 2}" if index % 3 == 0 else f"{noun} of the {adjective}"
    if form == 2:
        return f"A {adjective} {noun}, Again"  # a comma, so the CSV must quote titles
    return f"{adjective} {noun}"


def write(ratings: pa.Table, movies: pa.Table, folder: Path) -> None:
    """``ratings.csv`` and ``movies.csv`` as MovieLens ships them (header, comma-separated, titles quoted)."""
    folder.mkdir(parents=True, exist_ok=True)
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    for name, table in (("movies.csv", movies), ("ratings.csv", ratings)):
        temporary = folder / f".{name}.partial"
        pacsv.write_csv(table, temporary, write_options=options)
        temporary.replace(folder / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Shape: see the module docstring.")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="millions of ratings, at least 1 (25 is ML-25M's size)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write ratings.csv and movies.csv into")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.scale >= 1:
        print(f"synthetic: --scale is millions of ratings and must be at least 1, got {args.scale}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    ratings, movies = generate(args.scale, args.seed)
    write(ratings, movies, args.out)
    users = len(np.unique(ratings.column("userId").to_numpy()))
    print(
        f"wrote {args.out}: {ratings.num_rows:,} ratings by {users:,} users of {movies.num_rows:,} movies "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
