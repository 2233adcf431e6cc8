//! Groups and membership: creation happens once, membership is kept both
//! ways, pages are exact, ids sharing a prefix stay apart.

use super::unique_id;
use crate::{GroupInfo, GroupMember, MAX_PAGE, Tables};

fn group(group_id: &str, name: &str, owner: &str) -> GroupInfo {
    GroupInfo {
        group_id: group_id.to_string(),
        name: name.to_string(),
        owner: owner.to_string(),
        created_at_ms: 1_700_000_000_000,
        large: false,
    }
}

fn member(user: &str, role: &str, joined_at_ms: i64) -> GroupMember {
    GroupMember {
        user_id: user.to_string(),
        role: role.to_string(),
        joined_at_ms,
    }
}

fn user_ids(members: &[GroupMember]) -> Vec<&str> {
    members.iter().map(|m| m.user_id.as_str()).collect()
}

/// A second creation with a taken id returns `false` and changes nothing;
/// an unknown group is `None`, also next to one whose id extends it.
pub async fn groups_create_keeps_the_first(tables: &Tables) {
    let groups = &tables.groups;
    let base = unique_id("g");
    let (short, long) = (format!("{base}1"), format!("{base}10"));
    assert_eq!(groups.get_group(&short).await.unwrap(), None);

    let first = group(&short, "first", "alice");
    assert!(groups.create_group(&first).await.unwrap());
    assert_eq!(groups.get_group(&short).await.unwrap(), Some(first.clone()));

    let second = GroupInfo {
        created_at_ms: 1_800_000_000_000,
        ..group(&short, "second", "bob")
    };
    assert!(!groups.create_group(&second).await.unwrap());
    assert!(!groups.create_group(&first).await.unwrap());
    assert_eq!(groups.get_group(&short).await.unwrap(), Some(first.clone()));

    assert_eq!(groups.get_group(&long).await.unwrap(), None);
    assert_eq!(groups.get_group(&base).await.unwrap(), None);
    let other = group(&long, "other", "carol");
    assert!(groups.create_group(&other).await.unwrap());
    assert_eq!(groups.get_group(&long).await.unwrap(), Some(other));
    assert_eq!(groups.get_group(&short).await.unwrap(), Some(first));
}

/// `set_large` switches the size mode of an existing group and nothing
/// else; for an unknown group it returns `false` and creates nothing.
pub async fn groups_large_flag_changes_only_itself(tables: &Tables) {
    let groups = &tables.groups;
    let group_id = unique_id("g");
    let created = GroupInfo {
        large: true,
        ..group(&group_id, "crowd", "alice")
    };
    assert!(groups.create_group(&created).await.unwrap());
    assert_eq!(
        groups.get_group(&group_id).await.unwrap(),
        Some(created.clone())
    );

    let small = GroupInfo {
        large: false,
        ..created.clone()
    };
    assert!(groups.set_large(&group_id, false).await.unwrap());
    assert_eq!(
        groups.get_group(&group_id).await.unwrap(),
        Some(small.clone())
    );
    assert!(groups.set_large(&group_id, false).await.unwrap());
    assert_eq!(groups.get_group(&group_id).await.unwrap(), Some(small));
    assert!(groups.set_large(&group_id, true).await.unwrap());
    assert_eq!(
        groups.get_group(&group_id).await.unwrap(),
        Some(created.clone())
    );
    assert!(
        !groups
            .create_group(&group(&group_id, "again", "bob"))
            .await
            .unwrap()
    );
    assert_eq!(groups.get_group(&group_id).await.unwrap(), Some(created));

    let unknown = unique_id("g");
    assert!(!groups.set_large(&unknown, true).await.unwrap());
    assert_eq!(groups.get_group(&unknown).await.unwrap(), None);
    let later = group(&unknown, "later", "carol");
    assert!(groups.create_group(&later).await.unwrap());
    assert_eq!(groups.get_group(&unknown).await.unwrap(), Some(later));
}

/// Of several concurrent creations of one id, exactly one succeeds, and the
/// stored group is the winner's.
pub async fn groups_concurrent_creates_one_wins(tables: &Tables) {
    let group_id = unique_id("g");
    let mut creators = tokio::task::JoinSet::new();
    for n in 0..8 {
        let groups = tables.groups.clone();
        let info = group(&group_id, &format!("name-{n}"), &format!("owner-{n}"));
        creators.spawn(async move { (groups.create_group(&info).await.unwrap(), info) });
    }
    let mut winners = Vec::new();
    while let Some(result) = creators.join_next().await {
        let (created, info) = result.expect("creator task");
        if created {
            winners.push(info);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = tables.groups.get_group(&group_id).await.unwrap();
    assert_eq!(stored, winners.pop());
}

/// Adding and removing members changes both directions: the group's member
/// records and count, and each user's group list. Removing users who are
/// not members, and empty calls, change nothing.
pub async fn groups_membership_both_directions(tables: &Tables) {
    let groups = &tables.groups;
    let (g1, g2) = (unique_id("g"), unique_id("g"));
    let (alice, bob, carol) = (unique_id("alice"), unique_id("bob"), unique_id("carol"));
    assert_eq!(groups.count_members(&g1).await.unwrap(), 0);
    assert!(groups.user_groups(&alice).await.unwrap().is_empty());
    assert_eq!(groups.get_member(&g1, &alice).await.unwrap(), None);

    let added = [
        member(&alice, "owner", 100),
        member(&bob, "member", 200),
        member(&carol, "member", 300),
    ];
    groups.add_members(&g1, &added).await.unwrap();
    groups
        .add_members(&g2, &[member(&alice, "member", 400)])
        .await
        .unwrap();
    groups.add_members(&g2, &[]).await.unwrap();

    assert_eq!(groups.count_members(&g1).await.unwrap(), 3);
    assert_eq!(groups.count_members(&g2).await.unwrap(), 1);
    for expected in &added {
        let found = groups.get_member(&g1, &expected.user_id).await.unwrap();
        assert_eq!(found.as_ref(), Some(expected));
    }
    assert_eq!(
        groups.get_member(&g2, &alice).await.unwrap(),
        Some(member(&alice, "member", 400))
    );
    assert_eq!(groups.get_member(&g2, &bob).await.unwrap(), None);
    let mut both = vec![g1.clone(), g2.clone()];
    both.sort();
    assert_eq!(groups.user_groups(&alice).await.unwrap(), both);
    assert_eq!(groups.user_groups(&bob).await.unwrap(), [g1.as_str()]);

    let stranger = unique_id("stranger");
    groups
        .remove_members(&g1, &[bob.clone(), stranger.clone()])
        .await
        .unwrap();
    groups.remove_members(&g1, &[]).await.unwrap();
    groups
        .remove_members(&unique_id("g"), std::slice::from_ref(&alice))
        .await
        .unwrap();
    assert_eq!(groups.get_member(&g1, &bob).await.unwrap(), None);
    assert!(groups.user_groups(&bob).await.unwrap().is_empty());
    assert!(groups.user_groups(&stranger).await.unwrap().is_empty());
    assert_eq!(groups.count_members(&g1).await.unwrap(), 2);
    let page = groups.list_members(&g1, None, 10).await.unwrap();
    assert_eq!(page.items, [added[0].clone(), added[2].clone()]);
    assert_eq!(groups.user_groups(&alice).await.unwrap(), both);

    groups
        .remove_members(&g2, std::slice::from_ref(&alice))
        .await
        .unwrap();
    assert_eq!(groups.user_groups(&alice).await.unwrap(), [g1.as_str()]);
    assert_eq!(groups.count_members(&g2).await.unwrap(), 0);
    assert!(
        groups
            .list_members(&g2, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // A removed member can join again, as new.
    groups
        .add_members(&g1, &[member(&bob, "member", 500)])
        .await
        .unwrap();
    assert_eq!(
        groups.get_member(&g1, &bob).await.unwrap(),
        Some(member(&bob, "member", 500))
    );
    assert_eq!(groups.user_groups(&bob).await.unwrap(), [g1]);
}

/// Adding an existing member changes its role and keeps its join time; a
/// user listed twice in one call ends as its last entry says.
pub async fn groups_role_update_keeps_join_time(tables: &Tables) {
    let groups = &tables.groups;
    let group_id = unique_id("g");
    let (alice, bob) = (unique_id("alice"), unique_id("bob"));
    groups
        .add_members(
            &group_id,
            &[member(&alice, "member", 100), member(&bob, "member", 200)],
        )
        .await
        .unwrap();
    groups
        .add_members(&group_id, &[member(&alice, "owner", 999)])
        .await
        .unwrap();
    assert_eq!(
        groups.get_member(&group_id, &alice).await.unwrap(),
        Some(member(&alice, "owner", 100))
    );
    assert_eq!(
        groups.get_member(&group_id, &bob).await.unwrap(),
        Some(member(&bob, "member", 200))
    );
    assert_eq!(groups.count_members(&group_id).await.unwrap(), 2);

    let carol = unique_id("carol");
    groups
        .add_members(
            &group_id,
            &[member(&carol, "owner", 300), member(&carol, "member", 300)],
        )
        .await
        .unwrap();
    assert_eq!(
        groups.get_member(&group_id, &carol).await.unwrap(),
        Some(member(&carol, "member", 300))
    );
    assert_eq!(groups.count_members(&group_id).await.unwrap(), 3);
    assert_eq!(groups.user_groups(&carol).await.unwrap(), [group_id]);
}

/// Members come in user-id order, `after` exclusive (it need not be a
/// member), at most `limit`, `has_more` exact.
pub async fn groups_list_members_pages(tables: &Tables) {
    let groups = &tables.groups;
    let group_id = unique_id("g");
    let base = unique_id("u");
    let id = |suffix: &str| format!("{base}{suffix}");
    let added: Vec<GroupMember> = ["05", "01", "09", "03", "07", "1", "10"]
        .iter()
        .enumerate()
        .map(|(n, suffix)| member(&id(suffix), "member", n as i64))
        .collect();
    groups.add_members(&group_id, &added).await.unwrap();
    let mut sorted = added.clone();
    sorted.sort_by(|a, b| a.user_id.cmp(&b.user_id));

    let page = groups.list_members(&group_id, None, 100).await.unwrap();
    assert_eq!(page.items, sorted);
    assert!(!page.has_more);

    // `(after, limit, expected, has_more)`, ids as suffixes of `base`.
    type Case = (Option<&'static str>, usize, &'static [&'static str], bool);
    let cases: &[Case] = &[
        (None, 3, &["01", "03", "05"], true),
        (Some("05"), 3, &["07", "09", "1"], true),
        (Some("1"), 3, &["10"], false),
        (Some("09"), 3, &["1", "10"], false),
        (Some("09"), 2, &["1", "10"], false),
        (Some("02"), 1, &["03"], true),
        (Some(""), 1, &["01"], true),
        (Some("10"), 3, &[], false),
        (Some("~"), 3, &[], false),
    ];
    for &(after, limit, expected, has_more) in cases {
        let after = after.map(id);
        let page = groups
            .list_members(&group_id, after.as_deref(), limit)
            .await
            .unwrap();
        let case = format!("after={after:?} limit={limit}");
        let expected: Vec<String> = expected.iter().map(|suffix| id(suffix)).collect();
        assert_eq!(user_ids(&page.items), expected, "{case}");
        assert_eq!(page.has_more, has_more, "{case}");
    }
    let page = groups.list_members(&group_id, Some(""), 7).await.unwrap();
    assert_eq!(
        (page.items.as_slice(), page.has_more),
        (sorted.as_slice(), false)
    );

    // Paging through with the last id of each page visits everyone once.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = groups
            .list_members(&group_id, after.as_deref(), 2)
            .await
            .unwrap();
        seen.extend(page.items.iter().cloned());
        if !page.has_more {
            break;
        }
        after = page.items.last().map(|m| m.user_id.clone());
    }
    assert_eq!(seen, sorted);
}

/// A limit above `MAX_PAGE` returns `MAX_PAGE` members and `has_more`.
pub async fn groups_member_page_is_clamped_to_max_page(tables: &Tables) {
    let groups = &tables.groups;
    let group_id = unique_id("g");
    let base = unique_id("user");
    let total = MAX_PAGE + 5;
    let added: Vec<GroupMember> = (0..total)
        .map(|n| member(&format!("{base}-{n:05}"), "member", n as i64))
        .collect();
    groups.add_members(&group_id, &added).await.unwrap();
    assert_eq!(groups.count_members(&group_id).await.unwrap(), total as u64);

    let page = groups
        .list_members(&group_id, None, usize::MAX)
        .await
        .unwrap();
    assert_eq!(page.items.len(), MAX_PAGE);
    assert_eq!(page.items, added[..MAX_PAGE]);
    assert!(page.has_more);
    let last = page.items.last().map(|m| m.user_id.clone());
    let page = groups
        .list_members(&group_id, last.as_deref(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(page.items, added[MAX_PAGE..]);
    assert!(!page.has_more);
}

/// Groups "g1" and "g10", users "u1" and "u10": no read of one sees rows of
/// the other.
pub async fn groups_isolated_between_prefix_ids(tables: &Tables) {
    let groups = &tables.groups;
    let (g, u) = (unique_id("g"), unique_id("u"));
    let (g1, g10) = (format!("{g}1"), format!("{g}10"));
    let (u1, u10) = (format!("{u}1"), format!("{u}10"));
    groups
        .add_members(&g1, &[member(&u1, "owner", 1)])
        .await
        .unwrap();
    groups
        .add_members(&g10, &[member(&u10, "owner", 2), member(&u1, "member", 3)])
        .await
        .unwrap();

    assert_eq!(groups.count_members(&g1).await.unwrap(), 1);
    assert_eq!(groups.count_members(&g10).await.unwrap(), 2);
    assert_eq!(groups.count_members(&g).await.unwrap(), 0);
    let page = groups.list_members(&g1, None, 10).await.unwrap();
    assert_eq!(page.items, [member(&u1, "owner", 1)]);
    let page = groups.list_members(&g10, None, 10).await.unwrap();
    assert_eq!(
        page.items,
        [member(&u1, "member", 3), member(&u10, "owner", 2)]
    );
    assert_eq!(groups.get_member(&g1, &u10).await.unwrap(), None);
    assert_eq!(groups.get_member(&g, &u1).await.unwrap(), None);

    assert_eq!(
        groups.user_groups(&u1).await.unwrap(),
        [g1.clone(), g10.clone()]
    );
    assert_eq!(groups.user_groups(&u10).await.unwrap(), [g10.as_str()]);
    assert!(groups.user_groups(&u).await.unwrap().is_empty());

    groups
        .remove_members(&g1, std::slice::from_ref(&u1))
        .await
        .unwrap();
    assert_eq!(groups.user_groups(&u1).await.unwrap(), [g10.as_str()]);
    assert_eq!(groups.count_members(&g10).await.unwrap(), 2);
}
