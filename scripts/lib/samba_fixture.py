#!/usr/bin/python3
"""Offline fixture data for scripts/samba-start (Samba AD DC 4.17).

Run with Debian's /usr/bin/python3 (it has the samba bindings) on a STOPPED
domain directory: it opens DIR/private/sam.ldb directly as the system
session, so nothing goes over the network and no server needs to run.

  samba_fixture.py base SMB_CONF USERS BIND_PW_FILE USER_PW_FILE
      OUs, groups, the pwadmin service account, the special users and users
      user001..userUSERS. Prints pwadmin's objectSid on the last line.
  samba_fixture.py users SMB_CONF FROM TO WIDTH USER_PW_FILE
      adds userFROM..userTO, numbers zero-padded to WIDTH (grows a copy)
  samba_fixture.py deluser SMB_CONF FROM TO WIDTH
      deletes userFROM..userTO (shrinks a copy)
"""

import sys

BASE_DN = "DC=example,DC=org"
PEOPLE_DN = "OU=People," + BASE_DN
GROUPS_DN = "OU=Groups," + BASE_DN
USERS_CN_DN = "CN=Users," + BASE_DN
REALM_DNS = "example.org"

UF_ACCOUNTDISABLE = 0x2
UF_NORMAL_ACCOUNT = 0x200
UF_DONT_EXPIRE_PASSWD = 0x10000

# sAMAccountName width for bulk users: user001 ... user999, then wider.
def user_width(n):
    return max(3, len(str(n)))


def open_samdb(smb_conf):
    from samba.auth import system_session
    from samba.param import LoadParm
    from samba.samdb import SamDB

    lp = LoadParm()
    lp.load(smb_conf)
    return SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)


def read_secret(path):
    with open(path, encoding="utf-8") as f:
        return f.read().rstrip("\n")


def unicode_pwd(pw):
    return ('"%s"' % pw).encode("utf-16-le")


def add_user(samdb, cn, sam, password, uac=UF_NORMAL_ACCOUNT, ou=PEOPLE_DN,
             given=None, sn=None, display=None, mail=None, lang=None, description=None):
    msg = {
        "dn": "CN=%s,%s" % (cn, ou),
        "objectClass": "user",
        "sAMAccountName": sam,
        "userPrincipalName": "%s@%s" % (sam, REALM_DNS),
        "unicodePwd": unicode_pwd(password),
        "userAccountControl": str(uac),
    }
    for attr, val in (("givenName", given), ("sn", sn), ("displayName", display),
                      ("mail", mail), ("preferredLanguage", lang),
                      ("description", description)):
        if val is not None:
            msg[attr] = val
    samdb.add(msg)
    return msg["dn"]


def bulk_user(samdb, i, width, password):
    num = str(i).zfill(width)
    sam = "user" + num
    return add_user(samdb, sam, sam, password, given="Test", sn="User" + num,
                    display="Test User " + num, mail=sam + "@" + REALM_DNS,
                    lang="en" if i % 2 else "fr")


def add_ou(samdb, dn, desc):
    samdb.add({"dn": dn, "objectClass": "organizationalUnit", "description": desc})


def add_group(samdb, cn, ou, members, desc):
    # groupType: global security group (0x80000002 as a signed 32-bit int).
    samdb.add({"dn": "CN=%s,%s" % (cn, ou), "objectClass": "group",
               "sAMAccountName": cn.replace(" ", "-"), "groupType": str(-2147483646),
               "description": desc, "member": members})
    return "CN=%s,%s" % (cn, ou)


def cmd_base(smb_conf, users, bind_pw_file, user_pw_file):
    from samba.dcerpc import security
    from samba.ndr import ndr_unpack

    samdb = open_samdb(smb_conf)
    bind_pw = read_secret(bind_pw_file)
    user_pw = read_secret(user_pw_file)
    samdb.transaction_start()
    try:
        add_ou(samdb, PEOPLE_DN, "pwresetd test users (campaign scope)")
        add_ou(samdb, GROUPS_DN, "pwresetd test groups")
        pwadmin = add_user(samdb, "pwadmin", "pwadmin", bind_pw,
                           uac=UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD, ou=USERS_CN_DN,
                           display="pwresetd service account",
                           description="pwresetd campaign service account "
                                       "(delegated on OU=People)")
        width = user_width(users)
        for i in range(1, users + 1):
            bulk_user(samdb, i, width, user_pw)
        add_user(samdb, "disabled1", "disabled1", user_pw,
                 uac=UF_NORMAL_ACCOUNT | UF_ACCOUNTDISABLE, given="Disabled", sn="One",
                 display="Disabled One", mail="disabled1@" + REALM_DNS, lang="en")
        add_user(samdb, "noexpire1", "noexpire1", user_pw,
                 uac=UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD, given="Noexpire", sn="One",
                 display="Noexpire One", mail="noexpire1@" + REALM_DNS, lang="en")
        add_user(samdb, "Zoë Ångström", "zoe", user_pw, given="Zoë", sn="Ångström",
                 display="Zoë Ångström", mail="zoe@" + REALM_DNS, lang="fr")
        operator = add_user(samdb, "operator1", "operator1", user_pw, given="Operator",
                            sn="One", display="Operator One",
                            mail="operator1@" + REALM_DNS, lang="en")
        tier1 = add_group(samdb, "Helpdesk Tier1", GROUPS_DN, [operator],
                          "nested in Helpdesk; holds operator1")
        add_group(samdb, "Helpdesk", GROUPS_DN, [tier1],
                  "helpdesk operators (nested: Helpdesk Tier1)")
    except BaseException:
        samdb.transaction_cancel()
        raise
    samdb.transaction_commit()
    res = samdb.search(base=pwadmin, scope=0, attrs=["objectSid"])
    print(str(ndr_unpack(security.dom_sid, res[0]["objectSid"][0])))


def cmd_users(smb_conf, first, last, width, user_pw_file):
    samdb = open_samdb(smb_conf)
    user_pw = read_secret(user_pw_file)
    samdb.transaction_start()
    try:
        for i in range(first, last + 1):
            bulk_user(samdb, i, width, user_pw)
    except BaseException:
        samdb.transaction_cancel()
        raise
    samdb.transaction_commit()


def cmd_deluser(smb_conf, first, last, width):
    samdb = open_samdb(smb_conf)
    samdb.transaction_start()
    try:
        for i in range(first, last + 1):
            samdb.delete("CN=user%s,%s" % (str(i).zfill(width), PEOPLE_DN))
    except BaseException:
        samdb.transaction_cancel()
        raise
    samdb.transaction_commit()


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "base" and len(args) == 4:
        cmd_base(args[0], int(args[1]), args[2], args[3])
    elif cmd == "users" and len(args) == 5:
        cmd_users(args[0], int(args[1]), int(args[2]), int(args[3]), args[4])
    elif cmd == "deluser" and len(args) == 4:
        cmd_deluser(args[0], int(args[1]), int(args[2]), int(args[3]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
