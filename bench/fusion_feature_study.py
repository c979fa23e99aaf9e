"""Feature study behind the learned fusion (bench/README.md, "The heuristic's pool and fusion against the backbone").

    python bench/fusion_feature_study.py ml-100k heuristic   # or: seed (the backbone's top-50 only)

Trains LightGBM LambdaRank on validation-stage pools and tests on test-stage pools of
every user, for several feature sets, with and without monotone constraints and with
and without the backbone's order as the starting score. Kept as it was run (stop 16),
against the pool features of the code before the change it led to: run it on that
commit's parent, e.g. ``git worktree add /tmp/before 9288bf2~1`` and
``PYTHONPATH=/tmp/before python bench/fusion_feature_study.py ml-100k heuristic``.
"""
import sys, time, json
import numpy as np
from agentrec.agent.context import ToolContext
from agentrec.agent.fusion import pool_features
from agentrec.agent.policies import RunSettings, heuristic_pool, seed_pool
from agentrec.agent.service import open_agent
from agentrec.recsys.ranker import LearnedFusion, LearnedFusionConfig, CandidateFeatures
from agentrec.recsys.registry import make_model
from agentrec.recsys.threads import pin_threads
from agentrec.eval.bootstrap import paired_bootstrap

pin_threads()
dataset = sys.argv[1]
pool_kind = sys.argv[2] if len(sys.argv) > 2 else "seed"
settings = RunSettings(fusion="rrf")
service = open_agent(dataset, settings)
ws = service.workspace
ease = make_model("ease", l2=100.0).fit(ws.split.train)

def rows(stage):
    ws.use_stage(stage)
    ease.set_history(ws.stage_history())
    out = []
    for user in ws.evaluable_users().tolist():
        target = ws.target(user)
        ctx = ToolContext.for_user(ws, user)
        (seed_pool if pool_kind == "seed" else heuristic_pool)(ctx, settings)
        items = ctx.pool.items()
        f = pool_features(ctx, items)
        e = ease.score([user])[0].astype(float)
        allowed = np.where(ctx.pool.allowed, e, -np.inf)
        e_rank = 1.0 + (allowed[None, :] > e[items][:, None]).sum(axis=1)
        # within-pool ranks of each score column
        extra = {"ease_score": e[items], "ease_rank": e_rank}
        for name in ("backbone_score", "similar_score", "text_score"):
            if name in f.names:
                col = f.values[:, f.names.index(name)]
                r = np.empty(len(items)); r[np.argsort(-col, kind="stable")] = np.arange(1, len(items) + 1)
                extra[name.replace("_score", "_pool_rank")] = r
        names = f.names + tuple(extra)
        values = np.column_stack([f.values] + [extra[n] for n in extra])
        # backbone order as reference
        order_bb = items[np.argsort(-f.values[:, f.names.index("backbone_score")], kind="stable")]
        out.append((user, target, items, names, values, order_bb))
    return out

import lightgbm as lgb
t = time.time()
valid = rows("valid"); test = rows("test")
print("features", round(time.time() - t), "s", flush=True)
NAMES = valid[0][3]
SIGN = {"backbone_score": 1, "backbone_rank": -1, "ease_score": 1, "ease_rank": -1, "similar_score": 1,
        "similar_pool_rank": -1, "text_score": 1, "text_pool_rank": -1, "backbone_pool_rank": -1}

def ndcg(order, target, k=10):
    top = list(order[:k]); return 1 / np.log2(top.index(target) + 2) if target in top else 0.0

def run(cols, monotone, n_est=100, leaves=7, min_child=50, lr=0.05, init=False):
    idx = [NAMES.index(c) for c in cols]
    X, y, g, init_s = [], [], [], []
    for user, target, items, names, values, _ in valid:
        if target in set(items.tolist()):
            X.append(values[:, idx]); y.append((items == target).astype(float)); g.append(len(items))
            r = values[:, NAMES.index("backbone_rank")]; init_s.append(-np.log(r))
    params = dict(objective="lambdarank", n_estimators=n_est, learning_rate=lr, num_leaves=leaves,
                  min_child_samples=min_child, random_state=0, n_jobs=2, deterministic=True, verbose=-1)
    if monotone:
        params["monotone_constraints"] = [SIGN.get(c, 0) for c in cols]
        params["monotone_constraints_method"] = "advanced"
    m = lgb.LGBMRanker(**params)
    m.fit(np.vstack(X), np.concatenate(y), group=g, init_score=np.concatenate(init_s) if init else None)
    s, b = [], []
    for user, target, items, names, values, order_bb in test:
        pred = m.predict(values[:, idx]) + (-np.log(values[:, NAMES.index("backbone_rank")]) if init else 0)
        s.append(ndcg(items[np.argsort(-pred, kind="stable")], target)); b.append(ndcg(order_bb, target))
    s, b = np.array(s), np.array(b); c = paired_bootstrap(b, s)
    return round(s.mean(), 4), round(c.diff, 4), round(c.low, 4), round(c.high, 4)

sets = {
 "bb": ["backbone_score", "backbone_rank"],
 "bb+ease": ["backbone_score", "backbone_rank", "ease_score", "ease_rank"],
 "bb+ease+knn+pop": ["backbone_score", "backbone_rank", "ease_score", "ease_rank", "similar_score", "similar_pool_rank", "log_popularity"],
 "bb+ease+knn+text+pop+attr": ["backbone_score", "backbone_rank", "ease_score", "ease_rank", "similar_score", "similar_pool_rank", "text_score", "log_popularity", "attribute_match"],
 "all": list(NAMES),
}
for sname, cols in sets.items():
    for mono in (False, True):
        for init in (False, True):
            print(json.dumps({"pool": pool_kind, "features": sname, "monotone": mono, "init": init, "r": run(cols, mono, init=init)}), flush=True)
