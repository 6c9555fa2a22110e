"""The isolation matrix: every route of the API, tried by every kind of caller.

One file per resource (``test_accounts.py``, ``test_patients.py``, ``test_orders.py``...) holds that
resource's rows (``ROUTES``) with their builders and verifiers; ``support.py`` holds the callers,
the world and the check every row runs (``check_isolation``), and ``conftest.py`` builds the world
once for the whole package on the shared ``two_labs`` fixture. The routes are enumerated from the
FastAPI application itself, and ``test_coverage.py::test_matrix_covers_every_route`` fails as soon
as a route exists without a row in one of these files: a new endpoint cannot ship unexamined.

Callers (lab A owns the data: a patient P, a twin patient T, its accounts and tokens):

    (a) owner      a user of lab A in the route's role
    (b) other_lab  a user of lab B in the same role
    (c) operator   the platform operator (belongs to no lab)
    (d) anonymous  no Authorization header
    (e) garbage    an unknown ``lvt_`` token, a non-labvault token, an over-long token,
                   ``Bearer`` with no token, and a Basic credential
    (f) expired    a token of the (a) account whose expiry has passed
        revoked    a token of the (a) account that was revoked

Expected answers. Roles and operator rights follow ``labvault.security.permissions``: the operator
holds lab.manage, lab.users.manage, platform.users.manage, keys.manage and audit.read, and no
patient permission; lab roles never hold lab.manage; only lab_admin (of its own lab) manages users
and keys. Cross-lab object access answers 404, never 403, so that another lab cannot even learn
that an id exists.

    route                                 role        (a)        (b)                  (c)        (d)(e)(f)
    POST   /api/v1/auth/login             public      200        200                  200        200
    POST   /api/v1/auth/mfa/enroll        public      200        200                  200        200
    POST   /api/v1/auth/mfa/confirm       public      401 [10]   401                  401        401
    GET    /healthz                       public      200        200                  200        200
    GET    /api/v1/me                     reception   200 self   200 self             200 self   401
    POST   /api/v1/auth/reauth            reception   200 self   200 self             200 self   401
    POST   /api/v1/auth/password          reception   204 self   204 self             204 self   401
    POST   /api/v1/auth/security-keys/login/begin  public  200      200                  200        200
    POST   /api/v1/auth/security-keys/login/finish public  200      200                  200        200
    POST   .../security-keys/register/begin|finish reception 200|201 self (b), (c) self  401
    GET    /api/v1/auth/security-keys     reception   200 self   200 self             200 self   401
    DELETE /api/v1/auth/security-keys/{A's key} reception 204     404, key kept        404        401
    POST   .../security-keys/reauth/begin|finish   reception 200 self (b), (c) self      401
    POST   /api/v1/tokens                 reception   201 self   201 self             201 self   401
    DELETE /api/v1/tokens/{a's token}     reception   204        404, token kept      204 [1][13] 401
    POST   /api/v1/patients               reception   201        201 in B [2]         403        401
    GET    /api/v1/patients/{P}           reception   200        404                  403        401
    PATCH  /api/v1/patients/{P}           reception   200        404, P unchanged     403        401
    POST   /api/v1/patients/search/nir    reception   200 [P]    200 []               403        401
    POST   /api/v1/patients/search/ins    reception   200 [P]    200 []               403        401
    POST   /api/v1/patients/search/name   reception   200 [P]    200 []               403        401
    POST   /api/v1/physicians             reception   201        201 in B [9]         403        401
    POST   /api/v1/physicians/search      reception   200 [D]    404                  403        401
    GET    /api/v1/labs                   lab_admin   200 [A]    200 [B]              200 all    401
    POST   /api/v1/labs                   lab_admin   403 [3]    403                  201        401
    GET    /api/v1/labs/{A}               lab_admin   200        404                  200        401
    POST   /api/v1/labs/{A}/users         lab_admin   201        404, no user         403 [4]    401
    POST   /api/v1/labs/{A}/keys/rotate   lab_admin   200        404, no new key      200        401
    GET    /api/v1/audit/checkpoints      lab_admin   200 [A]    200 [B]              200 all    401
    GET    /api/v1/audit/proof/inclusion  lab_admin   200        404                  200        401
    GET    /api/v1/audit/proof/consistency lab_admin  200        404                  200        401
    POST   /api/v1/auth/password/initial  public      204        204                  204        204 [12]
    PATCH  /api/v1/users/{A's user}       lab_admin   200        404, unchanged       403 [4]    401
    POST   /api/v1/users/{A's user}/mfa/reset lab_admin 204      404, kept            403 [4]    401
    GET    /api/v1/alerts                 lab_admin   200 [A's]  200 [B's]            403        401
    POST   /api/v1/alerts/{A's}/acknowledge lab_admin 200        404, still open      403        401
    GET    /api/v1/account-actions        lab_admin   200 [A's]  200 [B's]            403        401
    POST   /api/v1/account-actions/{A's}/cancel lab_admin 200    404, still pending   403        401

Workflow routes. O is an order of P in lab A (K, NA and GLU validated and released as report v1; HIV,
a restricted test, entered but not validated), W another order of P whose K tube awaits entry. A
route that changes state gets a fresh order of P, brought to the stage it needs, for every call.

    route                                         role        (a)        (b)                    (c)   (d)-(f)
    POST   /api/v1/orders  (for P)                reception   201        404 [5], no order      403   401
    GET    /api/v1/orders/{O}                     reception   200 [6]    404                    403   401
    GET    /api/v1/patients/{P}/orders            reception   200 O, W   404                    403   401
    GET    /api/v1/orders/{O}/labels.pdf          reception   200 PDF    404                    403   401
    POST   /api/v1/specimens/collect              reception   200        404 [7], tube awaited  403   401
    POST   /api/v1/specimens/receive              reception   200        404 [7], tube awaited  403   401
    POST   /api/v1/specimens/reject               reception   200        404 [7], tube awaited  403   401
    POST   /api/v1/specimens/lookup               reception   200        404 [7]                403   401
    GET    /api/v1/worklist?section=biochemistry  technician  200 W's K  200, none of A's       403   401
    POST   /api/v1/results                        technician  201        422 [8], no result     403   401
    POST   /api/v1/results/validate/technical     technician  200        422 [8], not validated 403   401
    POST   /api/v1/results/validate/biological    biologist   200        422 [8], not validated 403   401
    POST   /api/v1/items/{K}/critical-call        biologist   201        404, no call           403   401
    GET    /api/v1/items/{O's K}/versions         technician  200        404                    403   401
    POST   /api/v1/orders/{O}/reports             biologist   201        404, no report         403   401
    GET    /api/v1/orders/{O}/reports             reception   200 [v1]   404                    403   401
    GET    /api/v1/orders/{O}/reports/1.pdf       reception   200 PDF    404                    403   401
    GET    /api/v1/patients/{P}/history           biologist   200        404                    403   401
    GET    /api/v1/patients/{P}/history.pdf       biologist   200 PDF    404                    403   401
    POST   /api/v1/break-glass  (for T)           technician  201 [11]   404, no override       403   401
    POST   /api/v1/support-grants                 lab_admin   201 [11]   201 in B               403   401
    GET    /api/v1/support-grants                 lab_admin   200 A's    200 B's                403   401
    DELETE /api/v1/support-grants/{A's grant}     lab_admin   200        404, not revoked       403   401
    GET    /api/v1/patients/{P}/access-log        biologist   200        404                    403   401

    [1] operators manage accounts, including revoking any account's token (AccountService).
    [2] (b) re-submits twin T's identity: it must be registered in lab B as a new patient, the
        duplicate check must not see lab A's T (no 409, no ``existing_ids`` naming T).
    [3] only platform operators create laboratories.
    [4] an operator only creates a lab's first administrator (lab A has one): no standing access.
    [5] lab B names P in the body: P is no patient of lab B.
    [6] result values only for the roles that read results, HIV only for biologists (the others
        are told one item is hidden); the same holds for (a)'s list of P's orders.
    [7] lab B scans a tube of lab A: barcodes are found through lab B's own blind index.
    [9] (b) re-submits the RPPS of a physician D just registered in lab A: registered in lab B,
        no 409 naming D.
    [8] ids inside a batch body name no object of the caller's lab: 422 naming the entry
        (``entries[0].item_id``), the same answer as for an id that exists nowhere.
    [10] a wrong code for a pending enrolment: no bearer token, valid or not, makes it succeed.
    [11] with the caller's token freshly re-authenticated. The glass is broken for twin T, who has
        no order: the override changes no other row's answer. The operator can act in lab A under
        a grant only with ``X-Support-Lab`` (tests/security/test_support_grants_api.py).
    [12] a new account of lab A, whose owner replaces the password its admin gave (public: no
        token matters); a given password works once only (tests/security/test_account_takeover.py).
    [13] on lab A's chain, with a high alert to its admins: the only request of a caller other than
        (a) that writes to lab A's audit log (a platform action on the lab's accounts).

Routes behind re-authentication (creating tokens and users, changing accounts) are called with the
caller's token freshly re-authenticated (``mark_reauthenticated``); test_sessions_api covers the
refusal without it. Codes are single-use; the matrix gives each request a code as if none had been
used (``fresh_code``): replay is test_mfa's business, not who-may-call-what.

On top of the status:
- every 401 carries ``WWW-Authenticate: Bearer``;
- no answer to (b)..(f) contains P's or T's birth name, first names or NIR (except the T values
  (b) itself submitted in [2]);
- no request of (b)..(f) changes lab A's patient rows or lab A's audit chain.

``test_roles.py`` adds the per-role matrix inside lab A (from permissions.py).
The prescriber is Dr D's account; D prescribed O (and V, a received K awaiting entry), another
physician E prescribed W; P has O, V and W, twin T has no order.

    route                                  reception  technician  biologist  lab_admin  prescriber
    GET    /api/v1/me, POST .../auth/reauth 200       200         200        200        200
    POST   /api/v1/tokens                  201        201         201        201        201
    POST   /api/v1/patients                201        403         201        201        403
    GET    /api/v1/patients/{P}            200        200         200        200        200 [p]
    PATCH  /api/v1/patients/{P}            200        403         200        200        403
    POST   /api/v1/patients/search/*       200        200         200        200        200 [P] [p]
    POST   /api/v1/physicians              201        403         201        201        403
    POST   /api/v1/physicians/search       200        200         200        200        403
    GET    /api/v1/labs, /api/v1/labs/{A}  200        200         200        200        200
    POST   /api/v1/labs                    403        403         403        403        403
    POST   /api/v1/labs/{A}/users          403        403         403        201        403
    POST   /api/v1/labs/{A}/keys/rotate    403        403         403        200        403
    GET    /api/v1/audit/*                 403        403         403        200        403
    POST   /api/v1/orders                  201        403         201        403        403
    GET    /api/v1/orders/{O}              200        200         200        403        200 [q]
    GET    /api/v1/patients/{P}/orders     200        200         200        403        200 O, V [q]
    GET    /api/v1/orders/{O}/labels.pdf   200        200         200        403        403
    POST   /api/v1/specimens/*             200        200         200        403        403
    GET    /api/v1/worklist                403        200         200        403        200 V's K [q]
    POST   /api/v1/results                 403        201         201        403        403
    POST   .../results/validate/technical  403        200         200        403        403
    POST   .../results/validate/biological 403        403         200        403        403
    POST   /api/v1/items/{K}/critical-call 403        201         201        403        403
    GET    /api/v1/items/{K}/versions      403        200         200        403        200 [q]
    POST   /api/v1/orders/{O}/reports      403        403         201        403        403
    GET    /api/v1/orders/{O}/reports      200        403         200        403        200 [q]
    GET    .../orders/{O}/reports/1.pdf    200        403         200        403        200 [q]
    GET    /api/v1/patients/{P}/history*   403        200         200        403        200 [p]
    POST   /api/v1/break-glass             201        201         409        403        403
    /api/v1/support-grants (all three)     403        403         403        201/200    403
    GET    /api/v1/patients/{P}/access-log 403        403         200        200        403

    [p] P has an order of D's; for T (no order of D's) the same routes answer 403, and searches
        for T find nothing (``test_prescriber.py``).
    [q] D's own order; on W (E's order of the same patient) every one of these answers 403 with
        the policy's reason, W is left out of P's orders and of the worklist, and lab B's
        prescriber gets 404 on O, V and P, all without a change to lab A's audit chain.
        Result values: only the results a biologist signed (HIV, entered but not validated, is
        shown as a test of D's order, without its value).
"""
