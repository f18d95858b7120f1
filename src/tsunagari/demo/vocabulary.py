"""The words the demo data set is made of: names with readings, companies, places, job titles."""

from __future__ import annotations

from dataclasses import dataclass

from tsunagari.crm.choices import BuyingRole, Industry


@dataclass(frozen=True)
class Word:
    """A word as written, its reading in katakana, and the romaji used in domains and emails."""

    text: str
    kana: str
    romaji: str


def _words(table: str) -> tuple[Word, ...]:
    """Parse lines of `text kana romaji`."""
    return tuple(Word(*line.split()) for line in table.strip().splitlines())


# The 100 most common family names, most frequent first (weights follow their rank).
FAMILY_NAMES = _words("""
佐藤 サトウ sato
鈴木 スズキ suzuki
高橋 タカハシ takahashi
田中 タナカ tanaka
伊藤 イトウ ito
渡辺 ワタナベ watanabe
山本 ヤマモト yamamoto
中村 ナカムラ nakamura
小林 コバヤシ kobayashi
加藤 カトウ kato
吉田 ヨシダ yoshida
山田 ヤマダ yamada
佐々木 ササキ sasaki
山口 ヤマグチ yamaguchi
松本 マツモト matsumoto
井上 イノウエ inoue
木村 キムラ kimura
林 ハヤシ hayashi
斎藤 サイトウ saito
清水 シミズ shimizu
山崎 ヤマザキ yamazaki
森 モリ mori
池田 イケダ ikeda
橋本 ハシモト hashimoto
阿部 アベ abe
石川 イシカワ ishikawa
山下 ヤマシタ yamashita
中島 ナカジマ nakajima
石井 イシイ ishii
小川 オガワ ogawa
前田 マエダ maeda
岡田 オカダ okada
長谷川 ハセガワ hasegawa
藤田 フジタ fujita
後藤 ゴトウ goto
近藤 コンドウ kondo
村上 ムラカミ murakami
遠藤 エンドウ endo
青木 アオキ aoki
坂本 サカモト sakamoto
斉藤 サイトウ saito
福田 フクダ fukuda
太田 オオタ ota
西村 ニシムラ nishimura
藤井 フジイ fujii
金子 カネコ kaneko
岡本 オカモト okamoto
藤原 フジワラ fujiwara
中野 ナカノ nakano
三浦 ミウラ miura
原田 ハラダ harada
中川 ナカガワ nakagawa
松田 マツダ matsuda
竹内 タケウチ takeuchi
小野 オノ ono
田村 タムラ tamura
中山 ナカヤマ nakayama
和田 ワダ wada
石田 イシダ ishida
森田 モリタ morita
上田 ウエダ ueda
原 ハラ hara
内田 ウチダ uchida
柴田 シバタ shibata
酒井 サカイ sakai
宮崎 ミヤザキ miyazaki
横山 ヨコヤマ yokoyama
高木 タカギ takagi
安藤 アンドウ ando
宮本 ミヤモト miyamoto
大野 オオノ ono
小島 コジマ kojima
谷口 タニグチ taniguchi
今井 イマイ imai
工藤 クドウ kudo
高田 タカダ takada
増田 マスダ masuda
丸山 マルヤマ maruyama
杉山 スギヤマ sugiyama
村田 ムラタ murata
大塚 オオツカ otsuka
新井 アライ arai
小山 コヤマ koyama
平野 ヒラノ hirano
藤本 フジモト fujimoto
河野 コウノ kono
上野 ウエノ ueno
野口 ノグチ noguchi
武田 タケダ takeda
松井 マツイ matsui
千葉 チバ chiba
岩崎 イワサキ iwasaki
菅原 スガワラ sugawara
木下 キノシタ kinoshita
久保 クボ kubo
佐野 サノ sano
野村 ノムラ nomura
松尾 マツオ matsuo
市川 イチカワ ichikawa
菊地 キクチ kikuchi
""")
FAMILY_WEIGHTS = tuple(1 / (rank**0.55) for rank in range(1, len(FAMILY_NAMES) + 1))

# Given names across the generations of people at work, men's and women's in equal number.
GIVEN_NAMES = _words("""
誠 マコト makoto
大輔 ダイスケ daisuke
健太 ケンタ kenta
翔太 ショウタ shota
拓也 タクヤ takuya
直樹 ナオキ naoki
浩二 コウジ koji
隆 タカシ takashi
健一 ケンイチ kenichi
和也 カズヤ kazuya
達也 タツヤ tatsuya
哲也 テツヤ tetsuya
雅人 マサト masato
洋平 ヨウヘイ yohei
亮 リョウ ryo
翔 ショウ sho
大樹 ダイキ daiki
悠太 ユウタ yuta
健 ケン ken
剛 ツヨシ tsuyoshi
修 オサム osamu
明 アキラ akira
博 ヒロシ hiroshi
淳 ジュン jun
聡 サトシ satoshi
学 マナブ manabu
浩之 ヒロユキ hiroyuki
智也 トモヤ tomoya
康弘 ヤスヒロ yasuhiro
秀樹 ヒデキ hideki
一郎 イチロウ ichiro
太郎 タロウ taro
勇気 ユウキ yuki
蓮 レン ren
陸 リク riku
拓海 タクミ takumi
翼 ツバサ tsubasa
大翔 ヒロト hiroto
優斗 ユウト yuto
海斗 カイト kaito
俊介 シュンスケ shunsuke
圭介 ケイスケ keisuke
慎一 シンイチ shinichi
良太 リョウタ ryota
徹 トオル toru
豊 ユタカ yutaka
昇 ノボル noboru
和彦 カズヒコ kazuhiko
正樹 マサキ masaki
裕介 ユウスケ yusuke
裕子 ユウコ yuko
美穂 ミホ miho
恵 メグミ megumi
陽子 ヨウコ yoko
真由美 マユミ mayumi
彩 アヤ aya
愛 アイ ai
麻衣 マイ mai
美咲 ミサキ misaki
由美 ユミ yumi
直美 ナオミ naomi
智子 トモコ tomoko
久美子 クミコ kumiko
明美 アケミ akemi
恵子 ケイコ keiko
京子 キョウコ kyoko
幸子 サチコ sachiko
香織 カオリ kaori
沙織 サオリ saori
千尋 チヒロ chihiro
彩花 アヤカ ayaka
美優 ミユ miyu
結衣 ユイ yui
葵 アオイ aoi
陽菜 ヒナ hina
さくら サクラ sakura
七海 ナナミ nanami
遥 ハルカ haruka
奈々 ナナ nana
真理 マリ mari
理恵 リエ rie
亜希子 アキコ akiko
由佳 ユカ yuka
瞳 ヒトミ hitomi
典子 ノリコ noriko
純子 ジュンコ junko
美香 ミカ mika
加奈子 カナコ kanako
里美 サトミ satomi
友美 トモミ tomomi
麻美 アサミ asami
千晶 チアキ chiaki
絵美 エミ emi
文子 フミコ fumiko
玲奈 レイナ reina
舞 マイ mai
綾乃 アヤノ ayano
真奈美 マナミ manami
静香 シズカ shizuka
優花 ユウカ yuka
""")

# First part of a company name: kanji and kana stems, and katakana brand words.
COMPANY_STEMS = _words("""
東和 トウワ towa
日本 ニホン nihon
北斗 ホクト hokuto
さくら サクラ sakura
三協 サンキョウ sankyo
大和 ダイワ daiwa
富士 フジ fuji
中央 チュウオウ chuo
明和 メイワ meiwa
共栄 キョウエイ kyoei
昭和 ショウワ showa
東洋 トウヨウ toyo
太平 タイヘイ taihei
旭 アサヒ asahi
光 ヒカリ hikari
新星 シンセイ shinsei
大同 ダイドウ daido
協和 キョウワ kyowa
日東 ニットウ nitto
東邦 トウホウ toho
日新 ニッシン nisshin
平和 ヘイワ heiwa
丸栄 マルエイ maruei
山一 ヤマイチ yamaichi
第一 ダイイチ daiichi
大成 タイセイ taisei
千代田 チヨダ chiyoda
青葉 アオバ aoba
若葉 ワカバ wakaba
白山 ハクサン hakusan
双葉 フタバ futaba
菱和 リョウワ ryowa
三栄 サンエイ sanei
日光 ニッコウ nikko
東亜 トウア toa
帝都 テイト teito
国際 コクサイ kokusai
関東 カントウ kanto
関西 カンサイ kansai
中部 チュウブ chubu
九州 キュウシュウ kyushu
北海 ホッカイ hokkai
東北 トウホク tohoku
瀬戸内 セトウチ setouchi
湘南 ショウナン shonan
信越 シンエツ shinetsu
北陸 ホクリク hokuriku
武蔵 ムサシ musashi
相模 サガミ sagami
尾張 オワリ owari
三河 ミカワ mikawa
浪速 ナニワ naniwa
筑紫 ツクシ tsukushi
大洋 タイヨウ taiyo
太陽 タイヨウ taiyo
銀河 ギンガ ginga
未来 ミライ mirai
創和 ソウワ sowa
誠和 セイワ seiwa
栄光 エイコウ eiko
三和 サンワ sanwa
新日本 シンニホン shinnihon
東日本 ヒガシニホン higashinihon
西日本 ニシニホン nishinihon
若松 ワカマツ wakamatsu
緑 ミドリ midori
宝 タカラ takara
金剛 コンゴウ kongo
大栄 ダイエイ daiei
日昇 ニッショウ nissho
豊和 ホウワ howa
高砂 タカサゴ takasago
八幡 ヤハタ yahata
城南 ジョウナン jonan
城北 ジョウホク johoku
京浜 ケイヒン keihin
阪神 ハンシン hanshin
京葉 ケイヨウ keiyo
中京 チュウキョウ chukyo
東海 トウカイ tokai
南海 ナンカイ nankai
飛鳥 アスカ asuka
弥生 ヤヨイ yayoi
和光 ワコウ wako
アルファ アルファ alpha
ネクスト ネクスト next
グローバル グローバル global
クロス クロス cross
アーク アーク arc
リンク リンク link
ブライト ブライト bright
フロンティア フロンティア frontier
エース エース ace
ユニバーサル ユニバーサル universal
スマート スマート smart
クリエイト クリエイト create
プライム プライム prime
アドバンス アドバンス advance
アクシス アクシス axis
ライズ ライズ rise
シード シード seed
ステラ ステラ stella
テラ テラ terra
ハーモニー ハーモニー harmony
パシフィック パシフィック pacific
""")

# Business words by industry; a company's name says what it does.
BUSINESS_WORDS: dict[str, tuple[Word, ...]] = {
    Industry.MANUFACTURING: _words("""
精機 セイキ seiki
電機 デンキ denki
工業 コウギョウ kogyo
製作所 セイサクショ seisakusho
化学 カガク kagaku
電子 デンシ denshi
機械 キカイ kikai
技研 ギケン giken
金属 キンゾク kinzoku
樹脂 ジュシ jushi
精工 セイコウ seiko
光学 コウガク kogaku
ゴム ゴム gomu
繊維 センイ seni
食品 ショクヒン foods
製薬 セイヤク pharma
印刷 インサツ insatsu
電機工業 デンキコウギョウ denki-kogyo
化学工業 カガクコウギョウ kagaku-kogyo
"""),
    Industry.IT: _words("""
システムズ システムズ systems
ソリューションズ ソリューションズ solutions
情報サービス ジョウホウサービス joho
ソフトウェア ソフトウェア software
テクノロジー テクノロジー tech
ネットワークス ネットワークス networks
データ データ data
通信 ツウシン tsushin
デジタル デジタル digital
情報システム ジョウホウシステム johosystem
テクノロジーズ テクノロジーズ technologies
コンピュータ コンピュータ computer
インフォメーション インフォメーション information
ITソリューションズ アイティーソリューションズ it-solutions
クラウド クラウド cloud
ラボ ラボ lab
"""),
    Industry.TRADE: _words("""
商事 ショウジ shoji
物産 ブッサン bussan
商会 ショウカイ shokai
産業 サンギョウ sangyo
販売 ハンバイ hanbai
トレーディング トレーディング trading
"""),
    Industry.MINING: _words("""
建設 ケンセツ kensetsu
工務店 コウムテン komuten
土木 ドボク doboku
電設 デンセツ densetsu
設備 セツビ setsubi
組 グミ gumi
"""),
    Industry.TRANSPORT: _words("""
運輸 ウンユ unyu
物流 ブツリュウ butsuryu
ロジスティクス ロジスティクス logistics
運送 ウンソウ unso
海運 カイウン kaiun
"""),
    Industry.FINANCE: _words("""
証券 ショウケン shoken
キャピタル キャピタル capital
ファイナンス ファイナンス finance
保険サービス ホケンサービス hoken
"""),
    Industry.REAL_ESTATE: _words("""
不動産 フドウサン fudosan
地所 ジショ jisho
リース リース lease
ハウジング ハウジング housing
"""),
    Industry.PROFESSIONAL: _words("""
コンサルティング コンサルティング consulting
総合研究所 ソウゴウケンキュウジョ soken
設計 セッケイ sekkei
エンジニアリング エンジニアリング engineering
"""),
    Industry.HOSPITALITY: _words("""
フーズ フーズ foods
ホテル ホテル hotel
観光 カンコウ kanko
ダイニング ダイニング dining
"""),
    Industry.EDUCATION: _words("""
教育 キョウイク kyoiku
アカデミー アカデミー academy
ラーニング ラーニング learning
"""),
    Industry.MEDICAL: _words("""
メディカル メディカル medical
ヘルスケア ヘルスケア healthcare
医療サービス イリョウサービス iryo
介護サービス カイゴサービス kaigo
"""),
    Industry.SERVICES: _words("""
サービス サービス service
ビジネスサービス ビジネスサービス bs
人材サービス ジンザイサービス jinzai
マネジメント マネジメント management
"""),
    Industry.UTILITIES: _words("""
電力 デンリョク denryoku
ガス ガス gas
エナジー エナジー energy
"""),
    Industry.AGRICULTURE: _words("""
農産 ノウサン nosan
水産 スイサン suisan
アグリ アグリ agri
"""),
    Industry.PUBLIC: _words("""
産業振興センター サンギョウシンコウセンター sangyo-shinko
情報センター ジョウホウセンター joho-center
技術振興財団 ギジュツシンコウザイダン gijutsu-shinko
"""),
}

# B2B marketing sells to makers and IT above all.
INDUSTRY_WEIGHTS: dict[str, float] = {
    Industry.MANUFACTURING: 30,
    Industry.IT: 20,
    Industry.TRADE: 12,
    Industry.MINING: 7,
    Industry.SERVICES: 7,
    Industry.PROFESSIONAL: 6,
    Industry.TRANSPORT: 4,
    Industry.FINANCE: 3,
    Industry.REAL_ESTATE: 3,
    Industry.MEDICAL: 3,
    Industry.HOSPITALITY: 2,
    Industry.EDUCATION: 1.5,
    Industry.UTILITIES: 1,
    Industry.AGRICULTURE: 0.5,
    Industry.PUBLIC: 1,
}

# Typical revenue per employee in yen, which makes revenue follow head count.
REVENUE_PER_EMPLOYEE: dict[str, int] = {
    Industry.MANUFACTURING: 30_000_000,
    Industry.IT: 20_000_000,
    Industry.TRADE: 60_000_000,
    Industry.MINING: 35_000_000,
    Industry.TRANSPORT: 20_000_000,
    Industry.FINANCE: 40_000_000,
    Industry.REAL_ESTATE: 50_000_000,
    Industry.PROFESSIONAL: 18_000_000,
    Industry.HOSPITALITY: 8_000_000,
    Industry.EDUCATION: 8_000_000,
    Industry.MEDICAL: 10_000_000,
    Industry.SERVICES: 12_000_000,
    Industry.UTILITIES: 60_000_000,
    Industry.AGRICULTURE: 15_000_000,
    Industry.PUBLIC: 15_000_000,
}


@dataclass(frozen=True)
class Place:
    """A prefecture: its code, name, and cities for addresses with their telephone area codes.

    Each city is (name, area code without the leading 0, digits of the local exchange).
    """

    code: str
    name: str
    romaji: str
    weight: float
    cities: tuple[tuple[str, str, int], ...]


def _place(code: str, name: str, romaji: str, weight: float, cities: str) -> Place:
    parsed = []
    for item in cities.split():
        city, area = item.split(":")
        # Ten digits in all: 0, the area code, the exchange and a four-digit subscriber number.
        parsed.append((city, area, 5 - len(area)))
    return Place(code, name, romaji, weight, tuple(parsed))


# Weights follow where Japanese companies are registered: Tokyo far ahead, then Osaka,
# Aichi and Kanagawa.
PLACES = (
    _place("01", "北海道", "hokkaido", 3.0, "札幌市中央区:11 札幌市北区:11 旭川市:166"),
    _place("02", "青森県", "aomori", 0.6, "青森市:17"),
    _place("03", "岩手県", "iwate", 0.6, "盛岡市:19"),
    _place("04", "宮城県", "miyagi", 1.8, "仙台市青葉区:22 仙台市宮城野区:22"),
    _place("05", "秋田県", "akita", 0.5, "秋田市:18"),
    _place("06", "山形県", "yamagata", 0.6, "山形市:23"),
    _place("07", "福島県", "fukushima", 0.9, "郡山市:24 福島市:24"),
    _place("08", "茨城県", "ibaraki", 1.3, "水戸市:29 つくば市:29"),
    _place("09", "栃木県", "tochigi", 0.9, "宇都宮市:28"),
    _place("10", "群馬県", "gunma", 0.9, "前橋市:27 高崎市:27"),
    _place("11", "埼玉県", "saitama", 3.5, "さいたま市大宮区:48 川口市:48 越谷市:48"),
    _place("12", "千葉県", "chiba", 2.8, "千葉市中央区:43 船橋市:47 松戸市:47"),
    _place(
        "13",
        "東京都",
        "tokyo",
        30.0,
        "千代田区:3 中央区:3 港区:3 新宿区:3 渋谷区:3 品川区:3 大田区:3 江東区:3 "
        "豊島区:3 台東区:3 文京区:3 目黒区:3 八王子市:42 立川市:42",
    ),
    _place(
        "14",
        "神奈川県",
        "kanagawa",
        6.5,
        "横浜市西区:45 横浜市港北区:45 横浜市中区:45 川崎市川崎区:44 川崎市中原区:44 "
        "相模原市中央区:42 厚木市:46",
    ),
    _place("15", "新潟県", "niigata", 1.1, "新潟市中央区:25 長岡市:258"),
    _place("16", "富山県", "toyama", 0.6, "富山市:76"),
    _place("17", "石川県", "ishikawa", 0.6, "金沢市:76"),
    _place("18", "福井県", "fukui", 0.4, "福井市:776"),
    _place("19", "山梨県", "yamanashi", 0.4, "甲府市:55"),
    _place("20", "長野県", "nagano", 1.0, "長野市:26 松本市:263"),
    _place("21", "岐阜県", "gifu", 0.9, "岐阜市:58 大垣市:584"),
    _place("22", "静岡県", "shizuoka", 2.0, "静岡市葵区:54 浜松市中央区:53 沼津市:55"),
    _place(
        "23",
        "愛知県",
        "aichi",
        7.0,
        "名古屋市中村区:52 名古屋市中区:52 名古屋市東区:52 豊田市:565 岡崎市:564 刈谷市:566",
    ),
    _place("24", "三重県", "mie", 0.7, "津市:59 四日市市:59"),
    _place("25", "滋賀県", "shiga", 0.5, "大津市:77 草津市:77"),
    _place("26", "京都府", "kyoto", 1.8, "京都市下京区:75 京都市中京区:75"),
    _place(
        "27",
        "大阪府",
        "osaka",
        11.0,
        "大阪市北区:6 大阪市中央区:6 大阪市西区:6 大阪市淀川区:6 堺市堺区:72 東大阪市:6 吹田市:6",
    ),
    _place("28", "兵庫県", "hyogo", 2.6, "神戸市中央区:78 姫路市:79 尼崎市:6"),
    _place("29", "奈良県", "nara", 0.4, "奈良市:742"),
    _place("30", "和歌山県", "wakayama", 0.4, "和歌山市:73"),
    _place("31", "鳥取県", "tottori", 0.3, "鳥取市:857"),
    _place("32", "島根県", "shimane", 0.3, "松江市:852"),
    _place("33", "岡山県", "okayama", 0.9, "岡山市北区:86 倉敷市:86"),
    _place("34", "広島県", "hiroshima", 1.6, "広島市中区:82 福山市:84"),
    _place("35", "山口県", "yamaguchi", 0.5, "山口市:83 下関市:83"),
    _place("36", "徳島県", "tokushima", 0.3, "徳島市:88"),
    _place("37", "香川県", "kagawa", 0.5, "高松市:87"),
    _place("38", "愛媛県", "ehime", 0.6, "松山市:89"),
    _place("39", "高知県", "kochi", 0.3, "高知市:88"),
    _place("40", "福岡県", "fukuoka", 3.5, "福岡市博多区:92 福岡市中央区:92 北九州市小倉北区:93"),
    _place("41", "佐賀県", "saga", 0.3, "佐賀市:952"),
    _place("42", "長崎県", "nagasaki", 0.5, "長崎市:95"),
    _place("43", "熊本県", "kumamoto", 0.7, "熊本市中央区:96"),
    _place("44", "大分県", "oita", 0.5, "大分市:97"),
    _place("45", "宮崎県", "miyazaki", 0.4, "宮崎市:985"),
    _place("46", "鹿児島県", "kagoshima", 0.6, "鹿児島市:99"),
    _place("47", "沖縄県", "okinawa", 0.6, "那覇市:98"),
)

# City names used as the first word of a company's name, by the prefecture they are in.
REGION_WORDS: dict[str, tuple[Word, ...]] = {
    "01": _words("札幌 サッポロ sapporo\n北海道 ホッカイドウ hokkaido"),
    "04": _words("仙台 センダイ sendai"),
    "11": _words("埼玉 サイタマ saitama"),
    "12": _words("千葉 チバ chiba"),
    "13": _words("東京 トウキョウ tokyo\n江戸 エド edo"),
    "14": _words("横浜 ヨコハマ yokohama\n神奈川 カナガワ kanagawa"),
    "15": _words("新潟 ニイガタ niigata"),
    "17": _words("金沢 カナザワ kanazawa"),
    "22": _words("静岡 シズオカ shizuoka\n浜松 ハママツ hamamatsu"),
    "23": _words("名古屋 ナゴヤ nagoya\n愛知 アイチ aichi"),
    "26": _words("京都 キョウト kyoto"),
    "27": _words("大阪 オオサカ osaka\n堺 サカイ sakai"),
    "28": _words("神戸 コウベ kobe"),
    "33": _words("岡山 オカヤマ okayama"),
    "34": _words("広島 ヒロシマ hiroshima"),
    "40": _words("福岡 フクオカ fukuoka\n博多 ハカタ hakata"),
    "43": _words("熊本 クマモト kumamoto"),
}

# Town names that exist in many cities; with 丁目・番・号 they make a plausible address.
TOWNS = (
    "本町",
    "栄町",
    "緑町",
    "旭町",
    "幸町",
    "錦町",
    "末広町",
    "東町",
    "西町",
    "南町",
    "北町",
    "中町",
    "新町",
    "港町",
    "宮前町",
    "大手町",
    "元町",
    "駅前",
    "中央",
    "桜町",
    "寿町",
    "曙町",
    "千歳町",
    "若松町",
    "松原",
    "日吉町",
    "昭和町",
    "平和町",
    "住吉町",
)
BUILDINGS = (
    "ビル",
    "センタービル",
    "第一ビル",
    "第二ビル",
    "スクエア",
    "タワー",
    "ビジネスセンター",
    "駅前ビル",
    "本社ビル",
)

DEPARTMENTS: tuple[tuple[str, float], ...] = (
    ("営業部", 14),
    ("第一営業部", 4),
    ("第二営業部", 3),
    ("営業企画部", 4),
    ("マーケティング部", 8),
    ("経営企画部", 6),
    ("情報システム部", 10),
    ("DX推進室", 4),
    ("総務部", 7),
    ("人事部", 5),
    ("経理部", 4),
    ("財務部", 2),
    ("製造部", 5),
    ("生産技術部", 3),
    ("品質保証部", 3),
    ("購買部", 3),
    ("研究開発部", 3),
    ("技術部", 4),
    ("設計部", 2),
    ("物流部", 2),
    ("カスタマーサクセス部", 2),
    ("広報部", 2),
    ("事業開発部", 2),
    ("海外事業部", 1),
)

# (title, weight, seniority 0–4); an empty title is a member of staff (担当者).
TITLES: tuple[tuple[str, float, int], ...] = (
    ("", 25, 0),
    ("担当", 8, 0),
    ("主任", 15, 1),
    ("係長", 11, 1),
    ("リーダー", 3, 1),
    ("課長", 15, 2),
    ("マネージャー", 4, 2),
    ("次長", 3, 2),
    ("部長", 10, 3),
    ("本部長", 2, 3),
    ("執行役員", 1.5, 4),
    ("取締役", 1.5, 4),
    ("常務取締役", 0.5, 4),
    ("代表取締役", 0.8, 4),
    ("代表取締役社長", 0.7, 4),
)
# Who usually decides: (buying role or "" when unknown, weight) by seniority.
BUYING_ROLES_BY_SENIORITY: dict[int, tuple[tuple[str, float], ...]] = {
    0: (("", 45), (BuyingRole.USER, 35), (BuyingRole.GATEKEEPER, 10), (BuyingRole.INFLUENCER, 10)),
    1: (("", 40), (BuyingRole.USER, 25), (BuyingRole.INFLUENCER, 30), (BuyingRole.GATEKEEPER, 5)),
    2: (
        ("", 35),
        (BuyingRole.INFLUENCER, 45),
        (BuyingRole.DECISION_MAKER, 15),
        (BuyingRole.USER, 5),
    ),
    3: (("", 30), (BuyingRole.DECISION_MAKER, 50), (BuyingRole.INFLUENCER, 20)),
    4: (("", 30), (BuyingRole.DECISION_MAKER, 65), (BuyingRole.INFLUENCER, 5)),
}

TAGS = (
    "展示会2024",
    "展示会2025",
    "ウェビナー参加",
    "セミナー参加",
    "資料ダウンロード",
    "名刺交換",
    "製造業DX",
    "クラウド移行",
    "セキュリティ",
    "生成AI",
    "基幹システム",
    "既存顧客紹介",
    "パートナー経由",
    "競合利用中",
    "予算確保済",
    "決裁者接触済",
    "要フォロー",
    "ニュースレター購読",
)

FORMS = (
    "資料ダウンロード：製造業DX事例集",
    "資料ダウンロード：MA導入ガイド",
    "資料ダウンロード：インサイドセールス立ち上げの手引き",
    "ウェビナー申込：生成AI活用セミナー",
    "ウェビナー申込：ABM実践講座",
    "お問い合わせフォーム",
    "ニュースレター登録",
    "展示会来場事前登録",
)
CARD_EVENTS = (
    "名刺交換：Japan IT Week 春",
    "名刺交換：Japan IT Week 秋",
    "名刺交換：ものづくりワールド",
    "名刺交換：営業訪問",
    "名刺交換：自社セミナー",
    "名刺交換：パートナー紹介",
)
FORM_CONSENT_TEXT = (
    "製品・サービスやセミナーのご案内をメールで受け取る（配信はいつでも停止できます）"
)
CARD_CONSENT_BASIS = "名刺交換による電子メールアドレスの通知（特定電子メール法 第3条第1項第2号）"

BANT_NEEDS = (
    "営業活動の可視化",
    "リード獲得数の増加",
    "名刺情報の一元管理",
    "MA導入による商談化率の向上",
    "基幹システムのクラウド移行",
    "セキュリティ対策の強化",
    "生産管理システムの刷新",
    "テレワーク環境の整備",
    "問い合わせ対応の効率化",
    "データ分析基盤の構築",
)
BANT_SOURCES = (
    "インサイドセールス架電",
    "商談（訪問）",
    "商談（オンライン）",
    "ウェビナー後アンケート",
    "資料請求フォーム",
)
NURTURE_REASONS = (
    "検討時期が未定のため育成へ",
    "失注（予算見送り）",
    "失注（競合採用）",
    "担当者異動のため育成へ",
)
DISQUALIFY_REASONS = ("競合他社", "学生・個人", "対象外業種", "連絡不通", "重複登録")

# Staff of the demo company: (username, family, given, role, team key or "").
STAFF = (
    ("m.takahashi", "高橋", "美咲", "marketing", ""),
    ("k.mori", "森", "健一", "marketing", ""),
    ("a.sasaki", "佐々木", "彩", "inside_sales", "inside"),
    ("s.inoue", "井上", "翔太", "inside_sales", "inside"),
    ("y.kimura", "木村", "優子", "inside_sales", "inside"),
    ("d.yamada", "山田", "大輔", "field_sales", "field"),
    ("m.nakajima", "中島", "誠", "field_sales", "field"),
    ("n.ishikawa", "石川", "直樹", "field_sales", "field"),
    ("m.ogawa", "小川", "恵", "field_sales", "field"),
    ("t.matsumoto", "松本", "隆", "read_only", ""),
)
TEAMS = {
    "inside": ("インサイドセールス", "inside_sales"),
    "field": ("フィールドセールス", "field_sales"),
}

# The demo company's website and what people touch on it (see demo.touchpoints).
SITE = "https://www.tsunagari-demo.example"
SITE_NAME = "つながりデモ"
# Blog posts, most read first: (slug, title).
BLOG_POSTS = (
    ("ma-basics", "マーケティングオートメーションとは？基本機能と導入メリット"),
    ("lead-nurturing", "リードナーチャリングの進め方：休眠リードを商談につなげる"),
    ("scoring-design", "リードスコアリング設計の基本と失敗しないポイント"),
    ("inside-sales-kpi", "インサイドセールスのKPI設計：架電数より大切な指標"),
    ("abm-first-steps", "ABM（アカウントベースドマーケティング）の始め方"),
    ("tradeshow-followup", "展示会後のフォローで商談化率を2倍にする方法"),
    ("email-open-rate", "メルマガの開封率を上げる件名の付け方10選"),
    ("generative-ai-marketing", "生成AIをBtoBマーケティングに活かす5つの方法"),
    ("business-card-data", "名刺データを営業資産に変える管理術"),
    ("seminar-planning", "集客できるウェビナー企画の作り方"),
    ("mql-sql-handoff", "MQLからSQLへ：マーケと営業の引き渡しルール"),
    ("manufacturing-dx", "製造業のデジタルマーケティング入門"),
    ("crm-data-quality", "顧客データの重複をなくす名寄せの基本"),
    ("landing-page-form", "フォームの入力項目を減らしてCVRを改善する"),
    ("content-calendar", "BtoBオウンドメディアのコンテンツカレンダー作成術"),
    ("sales-marketing-alignment", "営業とマーケティングの連携を強める定例会の進め方"),
    ("privacy-compliance", "特定電子メール法と個人情報保護法：メール配信の注意点"),
    ("cookie-consent", "Cookie同意バナーの設置と計測への影響"),
    ("dashboard-kpi", "マーケティングダッシュボードで追うべき指標"),
    ("webinar-followup", "ウェビナー参加者へのフォローメール文例"),
    ("customer-success", "カスタマーサクセスとアップセルの仕組みづくり"),
    ("utm-guide", "UTMパラメータの付け方と効果測定の基本"),
    ("cloud-migration", "基幹システムのクラウド移行で失敗しないために"),
    ("security-checklist", "中小企業のための情報セキュリティ対策チェックリスト"),
    ("year-end-review", "年末に見直したいマーケティング施策の振り返り方"),
    ("persona-design", "BtoBのペルソナ設計：決裁者と担当者を分けて考える"),
    ("nurturing-scenario", "ナーチャリングシナリオの作り方と配信例"),
    ("dormant-leads", "休眠顧客の掘り起こしに効くアプローチ"),
    ("case-study-writing", "導入事例記事の書き方とインタビューのコツ"),
    ("budget-planning", "来期のマーケティング予算の立て方"),
)
CASE_STUDIES = (
    ("seimitsu-kikai", "導入事例：精密機械メーカー様 商談化率が1.8倍に"),
    ("it-services", "導入事例：ITサービス企業様 インサイドセールスを立ち上げ"),
    ("shosha", "導入事例：専門商社様 展示会名刺の活用で新規案件を創出"),
    ("kensetsu", "導入事例：建設会社様 営業とマーケの情報共有を実現"),
    ("buhin-maker", "導入事例：自動車部品メーカー様 海外展示会のリードを一元管理"),
    ("software", "導入事例：ソフトウェア企業様 ウェビナー集客を3倍に"),
    ("butsuryu", "導入事例：物流会社様 休眠顧客から年間20件の商談"),
    ("chemical", "導入事例：化学メーカー様 技術資料ダウンロードから見込み客を発見"),
    ("consulting", "導入事例：コンサルティング会社様 セミナー運営を効率化"),
    ("food", "導入事例：食品メーカー様 既存顧客へのクロスセルを強化"),
)
PRODUCTS = (
    ("marketing-automation", "マーケティングオートメーション"),
    ("sales-force-automation", "営業支援（SFA）"),
    ("web-tracking", "Webアクセス解析・企業判別"),
    ("email", "メール配信"),
    ("seminar", "セミナー・イベント管理"),
)
WHITEPAPERS = (
    ("manufacturing-dx-cases", "製造業DX事例集"),
    ("ma-guide", "MA導入ガイド"),
    ("inside-sales-handbook", "インサイドセールス立ち上げの手引き"),
    ("tradeshow-checklist", "展示会フォロー実践チェックリスト"),
    ("scoring-template", "リードスコアリング設計テンプレート"),
)
# Our own seminars, one a month in turn: (slug, title).
SEMINAR_TOPICS = (
    ("generative-ai", "生成AI活用セミナー"),
    ("abm", "ABM実践講座"),
    ("manufacturing-dx", "製造業DXセミナー"),
    ("inside-sales", "インサイドセールス立ち上げ講座"),
    ("ma-workshop", "MA運用ワークショップ"),
    ("tradeshow", "展示会リード活用セミナー"),
)
# Trade shows we exhibit at each year: (month, first day, days, name); the year is appended.
TRADE_SHOWS = (
    (4, 9, 3, "ものづくりワールド 名古屋"),
    (4, 23, 3, "Japan IT Week 春"),
    (6, 18, 3, "ものづくりワールド 東京"),
    (10, 22, 3, "Japan IT Week 秋"),
    (11, 12, 3, "営業・マーケティングDX EXPO"),
)
# Other emails than the monthly newsletter: (subject, link kind) — "case" or "product".
EMAIL_SPECIALS = (
    ("【導入事例】商談化率が1.8倍になった精密機械メーカー様の取り組み", "case"),
    ("新機能のお知らせ：Webアクセスから企業を判別できるようになりました", "product"),
    ("【無料】展示会フォロー実践チェックリストを公開しました", "case"),
    ("年末年始休業のお知らせと新年のご案内", "product"),
)
CALL_TITLES = (
    "初回ヒアリング",
    "資料ダウンロードのお礼",
    "セミナー参加のお礼",
    "フォローコール",
    "不在（折り返し依頼）",
    "アポイント調整",
    "検討状況の確認",
)
CALL_NOTES = (
    "来期の予算化を検討中",
    "現行ツールの契約更新が半年後",
    "担当部署の決裁者を紹介いただける予定",
    "資料を社内で回覧中とのこと",
    "競合と比較検討中",
    "まずは情報収集の段階",
)
MEETING_TITLES = (
    "訪問：初回提案",
    "オンライン商談：要件ヒアリング",
    "製品デモンストレーション",
    "見積提示",
    "導入スケジュールの打ち合わせ",
    "定例ミーティング",
)
