"""Named recipes: the reported models as data, one YAML file each in this folder, trained by `bcrnn train --recipe
NAME` and, with everything they need in dependency order, by `bcrnn reproduce NAME`.

A recipe is of one of three kinds, by the key it holds:
    experiment:  a run: bcrnn train's options, as in an experiment file (training options under `train:`, model
                 settings under `model_overrides:`); `teacher:` names the recipe whose run teaches this one
                 (distillation), never a run folder
    members:     an ensemble: a run recipe and its `seeds:`, one member per seed, scored together with the integer
                 reference (bcrnn ensemble)
    rows:        a results table: the recipes of its rows, shown beside the poster's rows for their corpus;
                 with `repeats: N`, every run row is trained with N consecutive seeds from its own and reported
                 over all their fold runs
Every recipe has a `label:`, its row's text in a table. A run recipe with `default: true` is what `bcrnn train
--dataset D [--model M]` trains when neither --config nor --recipe is given (at most one per corpus and model).
`base: RECIPE` starts from that recipe's settings (its label and default: aside): the keys given here replace
its keys, mappings (experiment:, train:) merged key by key, so a variant states only what it changes. A recipe a
recipe names (base, teacher, members, rows) is looked up beside it, then among this package's recipes.

Where a recipe's results live under a runs root R (default runs/; the same R for a run and its teacher), named
by recipe and seed:
    R/<recipe>-s<S>/                 a run recipe's run folder with seed S (the recipe's own seed unless told)
    R/<recipe>-s<A>-s<B>.json        an ensemble recipe's scores (+ .png) with the members' seeds A, B
    R/results-<recipe>[-s...].md, .json    the table `bcrnn reproduce` prints
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bcrnn.yaml_files import load_named_yaml

RECIPES_DIR = Path(__file__).resolve().parent
KEYS = ("label", "default", "base", "experiment", "teacher", "members", "seeds", "rows", "repeats")
NOT_INHERITED = ("label", "default", "base")
KINDS = {"experiment": "run", "members": "ensemble", "rows": "table"}


class RecipeError(ValueError):
    """A recipe that does not exist, or that is not usable as asked."""


@dataclass(frozen=True)
class Recipe:
    """One recipe file, checked as it is loaded (load_recipe); the recipes it names are loaded from the same
    folder."""

    name: str
    path: Path
    data: dict

    @property
    def kind(self) -> str:
        return next(kind for key, kind in KINDS.items() if key in self.data)

    @property
    def label(self) -> str:
        return self.data["label"]

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def ref(self) -> str:
        """What names it on a command line: its name, or its file when it is not one of the package's recipes."""
        return self.name if self.folder == RECIPES_DIR else str(self.path)

    @property
    def default(self) -> bool:
        return bool(self.data.get("default", False))

    # a run recipe
    @property
    def experiment(self) -> dict:
        return self.data["experiment"]

    @property
    def seed(self) -> int:
        """The seed its own run uses (the experiment's first seed)."""
        from bcrnn.config import ExperimentConfig

        return int(self.experiment.get("seed", ExperimentConfig.seed))

    @property
    def dataset(self) -> str:
        from bcrnn.config import ExperimentConfig

        if self.kind == "run":
            return self.experiment.get("dataset", ExperimentConfig.dataset)
        return self.member.dataset if self.kind == "ensemble" else self.rows[0].dataset

    @property
    def model(self) -> str:
        from bcrnn.config import ExperimentConfig

        return self.experiment.get("model", ExperimentConfig.model)

    @property
    def teacher(self) -> "Recipe | None":
        name = self.data.get("teacher")
        return None if name is None else _named(self, name, "teacher")

    # an ensemble recipe
    @property
    def member(self) -> "Recipe":
        return _named(self, self.data["members"], "members")

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(self.data["seeds"])

    # a table recipe
    @property
    def rows(self) -> list["Recipe"]:
        return [_named(self, name, "rows") for name in self.data["rows"]]

    @property
    def repeats(self) -> int:
        """How many seeds each run row is trained with (1: the recipe's own seed only)."""
        return int(self.data.get("repeats", 1))


def _named(recipe: Recipe, name, key: str, seen: tuple[str, ...] | None = None) -> Recipe:
    """The recipe `name` that `recipe` names under `key`: beside it, else among this package's recipes."""
    seen = (recipe.name,) if seen is None else seen
    try:
        return load_recipe(name, recipe.folder, seen)
    except FileNotFoundError as err:
        if recipe.folder != RECIPES_DIR and (RECIPES_DIR / f"{name}.yaml").is_file():
            return load_recipe(name, RECIPES_DIR, seen)
        raise RecipeError(f"recipe {recipe.name} ({recipe.path}): its {key} names the recipe {name!r}, which does "
                          f"not exist: {err}") from None


def load_recipe(name_or_path: str | Path, folder: Path | None = None, _seen: tuple[str, ...] = ()) -> Recipe:
    """The recipe `name_or_path` (a name in `folder`, default this package's recipes, or a YAML file), its base
    merged in, checked with the recipes it names. Raises FileNotFoundError (no such recipe, the known ones listed)
    or RecipeError."""
    path, data = load_named_yaml(name_or_path, folder or RECIPES_DIR, "recipe", KEYS)
    recipe = Recipe(path.stem, path.resolve(), data)
    if recipe.name in _seen:
        raise RecipeError(f"recipe {recipe.name}: it depends on itself ({' -> '.join(_seen + (recipe.name,))})")
    if "base" in data:
        if not isinstance(data["base"], str):
            raise RecipeError(f"recipe {recipe.name} ({recipe.path}): base: is the name of the recipe it varies")
        base = _named(recipe, data["base"], "base", _seen + (recipe.name,))
        inherited = {k: v for k, v in base.data.items() if k not in NOT_INHERITED}
        recipe = Recipe(recipe.name, recipe.path, _merged(inherited, data))
    _check(recipe, _seen + (recipe.name,))
    return recipe


def _merged(base: dict, changes: dict) -> dict:
    """`base` with `changes` applied: a mapping in both is merged key by key, any other value replaced."""
    out = dict(base)
    for key, value in changes.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both else value
    return out


def _check(recipe: Recipe, seen: tuple[str, ...]) -> None:
    where = f"recipe {recipe.name} ({recipe.path})"
    kinds = [key for key in KINDS if key in recipe.data]
    if len(kinds) != 1:
        raise RecipeError(f"{where}: a recipe holds exactly one of {', '.join(f'{k}:' for k in KINDS)}")
    if not isinstance(recipe.data.get("label"), str):
        raise RecipeError(f"{where}: give its row's text as label:")
    if recipe.kind != "run" and any(k in recipe.data for k in ("teacher", "default")):
        raise RecipeError(f"{where}: teacher: and default: belong to a run recipe (experiment:)")
    if recipe.kind != "ensemble" and "seeds" in recipe.data:
        raise RecipeError(f"{where}: seeds: belongs to an ensemble recipe (members:); a run's go in experiment:")
    if "repeats" in recipe.data and not (recipe.kind == "table" and isinstance(recipe.data["repeats"], int)
                                         and not isinstance(recipe.data["repeats"], bool)
                                         and recipe.data["repeats"] >= 1):
        raise RecipeError(f"{where}: repeats: is a table's count of seeds per run row, an integer >= 1")

    if recipe.kind == "run":
        if not isinstance(recipe.experiment, dict):
            raise RecipeError(f"{where}: experiment: is a mapping of bcrnn train's options")
        if "teacher" in recipe.experiment:
            raise RecipeError(f"{where}: name the teacher by its recipe (teacher: RECIPE beside experiment:), not "
                              f"by a run folder")
        if "teacher" in recipe.data:
            teacher = _named(recipe, recipe.data["teacher"], "teacher", seen)
            if teacher.kind != "run":
                raise RecipeError(f"{where}: its teacher {teacher.name} is an {teacher.kind} recipe, not a run")
            if teacher.dataset != recipe.dataset:
                raise RecipeError(f"{where}: its teacher {teacher.name} is trained on {teacher.dataset}, not "
                                  f"{recipe.dataset}")
    elif recipe.kind == "ensemble":
        member = _named(recipe, recipe.data["members"], "members", seen)
        if member.kind != "run":
            raise RecipeError(f"{where}: its members are runs of a run recipe, not of the {member.kind} {member.name}")
        check_ensemble_seeds(recipe.data.get("seeds"), where)
    else:
        rows = recipe.data["rows"]
        if not isinstance(rows, list) or not rows:
            raise RecipeError(f"{where}: rows: is a list of recipe names")
        tables = [r.name for r in (_named(recipe, name, "rows", seen) for name in rows) if r.kind == "table"]
        if tables:
            raise RecipeError(f"{where}: a row is a run or an ensemble, not the table {tables[0]}")
        if len({r.dataset for r in recipe.rows}) > 1:
            raise RecipeError(f"{where}: its rows are trained on different corpora")


def check_ensemble_seeds(seeds, where: str) -> None:
    """An ensemble's seeds: two or more different integers."""
    if not (isinstance(seeds, (list, tuple)) and len(seeds) >= 2 and all(isinstance(s, int) for s in seeds)
            and len(set(seeds)) == len(seeds)):
        raise RecipeError(f"{where}: an ensemble takes two or more different integer seeds, got {seeds!r}")


def recipe_names(folder: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (folder or RECIPES_DIR).glob("*.yaml"))


def run_recipe_names(folder: Path | None = None) -> list[str]:
    """The names of the run recipes (for a help text: a file that does not load is left out, not an error here)."""
    names = []
    for name in recipe_names(folder):
        try:
            if load_recipe(name, folder).kind == "run":
                names.append(name)
        except (ValueError, FileNotFoundError):
            pass
    return names


def default_recipe(dataset: str, model: str, folder: Path | None = None) -> Recipe | None:
    """The run recipe marked `default: true` for this corpus and model, if there is one."""
    found = [r for r in (load_recipe(n, folder) for n in recipe_names(folder))
             if r.kind == "run" and r.default and r.dataset == dataset and r.model == model]
    if len(found) > 1:
        raise RecipeError(f"more than one default recipe for {dataset} {model}: {', '.join(r.name for r in found)}")
    return found[0] if found else None


def seed_suffix(seeds) -> str:
    """'-s8-s9' for the seeds 8 and 9."""
    return "".join(f"-s{s}" for s in (seeds if isinstance(seeds, (list, tuple)) else (seeds,)))


def run_folder(root: Path, recipe: Recipe, seed: int | None = None) -> Path:
    """The run folder of a run recipe under the runs root: root/<name>-s<seed> (default: the recipe's seed)."""
    return Path(root) / f"{recipe.name}{seed_suffix(recipe.seed if seed is None else seed)}"


def ensemble_file(root: Path, recipe: Recipe, seeds=None) -> Path:
    """The scores of an ensemble recipe under the runs root: root/<name>-s<A>-s<B>.json (default: its seeds)."""
    return Path(root) / f"{recipe.name}{seed_suffix(recipe.seeds if seeds is None else seeds)}.json"


def experiment_config(recipe: Recipe, root: Path, overrides: dict | None = None):
    """The ExperimentConfig of a run recipe: its experiment, its teacher resolved to the teacher recipe's run
    folder under `root`, then `overrides` (flat option names, as bcrnn.config.load_config takes them)."""
    from bcrnn.config import build_config

    if recipe.kind != "run":
        raise RecipeError(f"recipe {recipe.name} is an {recipe.kind}, not a run: `bcrnn reproduce {recipe.ref}` "
                          f"trains and scores it")
    data = dict(recipe.experiment)
    if recipe.teacher is not None:
        data["teacher"] = str(run_folder(root, recipe.teacher))
    try:
        return build_config(data, overrides or {})
    except (ValueError, TypeError) as err:
        raise RecipeError(f"recipe {recipe.name} ({recipe.path}): {err}") from None


def run_state(folder: Path) -> str:
    """'missing' (no run yet), 'unfinished' (cut short: continue it with --resume) or 'done' (every fold trained,
    the reports written and, for a BCRNN, its model exported)."""
    from bcrnn.run_folder import RunFolder

    run = RunFolder(folder)
    if not run.config_file.is_file():
        return "missing"
    if not run.metrics_file.is_file():
        return "unfinished"
    if run.experiment.get("model") == "bcrnn" and not run.export_check_file.is_file():
        return "unfinished"
    return "done"
